# Test module: the variables and outputs of the embedded Azure module (the
# contract test checks they are equal), with fakevm_vm resources from the
# test provider local.test/k0rdent/fakevm instead of Azure VMs.

terraform {
  required_providers {
    fakevm = {
      source  = "local.test/k0rdent/fakevm"
      version = "0.1.0"
    }
  }
}

variable "cluster_id" {
  type        = string
  description = "Cluster id <name>-<8 random>; prefixes every resource name."
}

variable "location" {
  type        = string
  description = "Azure region."
}

variable "owner" {
  type        = string
  description = "Owner tag."
}

variable "vm_image" {
  type        = string
  description = "Image URN publisher:offer:sku:version."
}

variable "vm_priority" {
  type        = string
  description = "Regular or Spot."
}

variable "eviction_policy" {
  type        = string
  description = "Deallocate or Delete (spot only)."
}

variable "spot_max_price" {
  type        = number
  description = "Spot max price in USD per hour; -1: up to the on-demand price."
}

variable "os_disk_size_gb" {
  type        = number
  description = "OS disk size."
}

variable "vnet_prefix" {
  type        = string
  description = "VNet address space."
}

variable "subnet_prefix" {
  type        = string
  description = "VM subnet."
}

variable "wireguard_port" {
  type        = number
  description = "UDP port the VMs' WireGuard listens on."
}

variable "ssh_user" {
  type        = string
  description = "VM admin user."
}

variable "ssh_public_key" {
  type        = string
  description = "VM admin SSH public key (OpenSSH format)."
}

variable "vms" {
  type = map(object({
    index        = number
    role         = string
    size         = string
    zone         = string
    wireguard_ip = string
    cloud_init   = string
  }))
  description = "VMs by name: position in host order, role, size, zone, WireGuard address, cloud-init file path."
}

variable "subscription_id" {
  type        = string
  description = "Azure subscription; empty: ARM_SUBSCRIPTION_ID or the Azure CLI's current one."
}

variable "legacy_names" {
  type = map(object({
    vm               = string
    nic              = string
    public_ip        = string
    ip_configuration = string
  }))
  default     = {}
  description = "By VM (config name): its name in Azure and the names of the NIC, public IP and IP configuration the legacy bash tool's az vm create gave it; adopted (imported), never renamed."
}

locals {
  resource_group = "${var.cluster_id}-resgrp"
}

resource "fakevm_vm" "vm" {
  for_each = var.vms

  name           = try(var.legacy_names[each.key].vm, each.key)
  index          = each.value.index
  role           = each.value.role
  zone           = each.value.zone
  size           = each.value.size
  wireguard_ip   = each.value.wireguard_ip
  custom_data    = each.value.cloud_init != "" ? base64encode(file(each.value.cloud_init)) : null
  ssh_public_key = var.ssh_public_key
}

output "vm_details" {
  description = "VMs by name: role, zone, size, public, private and WireGuard addresses."
  value = {
    for name, vm in fakevm_vm.vm : name => {
      role         = vm.role
      zone         = vm.zone
      size         = vm.size
      public_ip    = vm.public_ip
      private_ip   = vm.private_ip
      wireguard_ip = vm.wireguard_ip
    }
  }
}

output "public_ips" {
  description = "Public IP by VM name."
  value       = { for name, vm in fakevm_vm.vm : name => vm.public_ip }
}

output "private_ips" {
  description = "Private IP by VM name."
  value       = { for name, vm in fakevm_vm.vm : name => vm.private_ip }
}

output "resource_group" {
  description = "Resource group name."
  value       = local.resource_group
}

output "wireguard_port" {
  description = "UDP port the VMs' WireGuard listens on."
  value       = var.wireguard_port
}
