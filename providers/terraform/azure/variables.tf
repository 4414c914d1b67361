# Variables: the contract with the terraform phase (tfvars JSON). The test
# module under testdata/testmodule declares the same ones.

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
