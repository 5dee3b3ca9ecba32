// One Key Vault secret. A module of its own so that keyvault.bicep can deploy it only when a
// value is given, while checkov still sees (and checks) an unconditional secret resource.

param vaultName string
param secretName string

@secure()
param value string

@description('What the secret holds, for operators (never the value).')
param contentType string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: value
    contentType: contentType
  }
}

output name string = secret.name
