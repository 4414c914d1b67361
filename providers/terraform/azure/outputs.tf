# Outputs: the contract with the terraform phase, which turns each one into
# a node output (objects as compact JSON). The test module under
# testdata/testmodule declares the same ones.

output "vm_details" {
  description = "VMs by name: role, zone, size, public, private and WireGuard addresses."
  value = {
    for name, vm in var.vms : name => {
      role         = vm.role
      zone         = vm.zone
      size         = vm.size
      public_ip    = azurerm_public_ip.vm[name].ip_address
      private_ip   = azurerm_network_interface.vm[name].private_ip_address
      wireguard_ip = vm.wireguard_ip
    }
  }
}

output "public_ips" {
  description = "Public IP by VM name."
  value       = { for name, ip in azurerm_public_ip.vm : name => ip.ip_address }
}

output "private_ips" {
  description = "Private IP by VM name."
  value       = { for name, nic in azurerm_network_interface.vm : name => nic.private_ip_address }
}

output "resource_group" {
  description = "Resource group name."
  value       = azurerm_resource_group.rg.name
}

output "wireguard_port" {
  description = "UDP port the VMs' WireGuard listens on."
  value       = var.wireguard_port
}
