// Key Vault holding hubsync's secrets. Access is by Azure RBAC only (no access policies);
// the app reads secrets through Key Vault references resolved with its user-assigned identity.

@description('Vault name: 3-24 letters, digits and hyphens.')
@minLength(3)
@maxLength(24)
param name string
param location string
param tags object = {}

param hubspotTokenSecretName string

@description('HubSpot private-app token; the secret is written only when this is not empty.')
@secure()
param hubspotAccessToken string = ''

param sourceUrlSecretName string

@description('Source database URL with a password; the secret is written only when this is not empty.')
@secure()
param sourceUrlSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// An empty value means "keep what is stored": routine deployments need not carry the token,
// and a rotation is one deployment (or `az keyvault secret set`) away.
module hubspotTokenSecret './secret.bicep' = if (!empty(hubspotAccessToken)) {
  name: 'secret-hubspot-token'
  params: {
    vaultName: vault.name
    secretName: hubspotTokenSecretName
    value: hubspotAccessToken
    contentType: 'text/plain; HubSpot private app access token'
  }
}

module sourceUrlSecretModule './secret.bicep' = if (!empty(sourceUrlSecret)) {
  name: 'secret-source-url'
  params: {
    vaultName: vault.name
    secretName: sourceUrlSecretName
    value: sourceUrlSecret
    contentType: 'text/plain; SQLAlchemy URL of the source database'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
