# The k0rdent management cluster's Azure infrastructure: a resource group,
# a VNet with one subnet, an NSG that lets in WireGuard (UDP) and SSH, and
# one Linux VM per host with a static public IP, its zone, spot settings,
# the admin SSH key and its cloud-init document as custom data (it brings
# up wg0). Names follow the bash tool: <cluster_id>-resgrp, -vnet, -subnet,
# -nsg. VMs the bash tool created keep the names az gave their NIC, public
# IP and IP configuration (var.legacy_names), so that they are imported
# (k0rdent-imports.json) rather than replaced. Everything is tagged with the cluster id, the owner and created-by.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    # 4.1: ed25519 admin_ssh_key; 4.60: subscription_id may be null.
    # Keep equal to AzurermConstraint (lock.go).
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.60, < 5.0"
    }
  }
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id != "" ? var.subscription_id : null
}

locals {
  spot  = lower(var.vm_priority) == "spot"
  image = split(":", var.vm_image)
  tags = {
    "cluster-id" = var.cluster_id
    "owner"      = var.owner
    "created-by" = "k0rdent"
  }
}

resource "azurerm_resource_group" "rg" {
  name     = "${var.cluster_id}-resgrp"
  location = var.location
  tags     = local.tags
}

resource "azurerm_virtual_network" "vnet" {
  name                = "${var.cluster_id}-vnet"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  address_space       = [var.vnet_prefix]
  tags                = local.tags
}

resource "azurerm_subnet" "subnet" {
  name                 = "${var.cluster_id}-subnet"
  resource_group_name  = azurerm_resource_group.rg.name
  virtual_network_name = azurerm_virtual_network.vnet.name
  address_prefixes     = [var.subnet_prefix]
}

resource "azurerm_network_security_group" "nsg" {
  name                = "${var.cluster_id}-nsg"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  tags                = local.tags

  security_rule {
    name                       = "AllowWireGuard"
    priority                   = 1000
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Udp"
    source_port_range          = "*"
    destination_port_range     = tostring(var.wireguard_port)
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }

  security_rule {
    name                       = "AllowSSH"
    priority                   = 1010
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_range     = "22"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "subnet" {
  subnet_id                 = azurerm_subnet.subnet.id
  network_security_group_id = azurerm_network_security_group.nsg.id
}

resource "azurerm_public_ip" "vm" {
  for_each = var.vms

  name                = try(var.legacy_names[each.key].public_ip, "${each.key}-ip")
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  allocation_method   = "Static"
  sku                 = "Standard"
  zones               = [each.value.zone]
  tags                = local.tags
}

resource "azurerm_network_interface" "vm" {
  for_each = var.vms

  name                = try(var.legacy_names[each.key].nic, "${each.key}-nic")
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  tags                = local.tags

  ip_configuration {
    name                          = try(var.legacy_names[each.key].ip_configuration, "internal")
    subnet_id                     = azurerm_subnet.subnet.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.vm[each.key].id
  }
}

resource "azurerm_linux_virtual_machine" "vm" {
  for_each = var.vms

  name                            = try(var.legacy_names[each.key].vm, each.key)
  computer_name                   = try(var.legacy_names[each.key].vm, each.key)
  resource_group_name             = azurerm_resource_group.rg.name
  location                        = azurerm_resource_group.rg.location
  size                            = each.value.size
  zone                            = each.value.zone
  admin_username                  = var.ssh_user
  disable_password_authentication = true
  network_interface_ids           = [azurerm_network_interface.vm[each.key].id]
  # An adopted VM (cloud_init "") keeps the custom data it was built with:
  # Azure does not return it, and changing it would replace the VM.
  custom_data = each.value.cloud_init != "" ? base64encode(file(each.value.cloud_init)) : null

  priority        = local.spot ? "Spot" : "Regular"
  eviction_policy = local.spot ? var.eviction_policy : null
  max_bid_price   = local.spot ? var.spot_max_price : null

  admin_ssh_key {
    username   = var.ssh_user
    public_key = var.ssh_public_key
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "Premium_LRS"
    disk_size_gb         = var.os_disk_size_gb
  }

  source_image_reference {
    publisher = local.image[0]
    offer     = local.image[1]
    sku       = local.image[2]
    version   = local.image[3]
  }

  tags = merge(local.tags, { "role" = each.value.role })
}
