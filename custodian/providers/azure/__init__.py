"""Azure adapters: ARM clients (azure-mgmt-*) and the ACR token provider."""
