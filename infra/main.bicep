// hubsync: SQL Server -> Storage queue -> HubSpot, on an Azure Functions Flex Consumption plan.
//
// Deploy into an existing resource group:
//   az deployment group create -g <rg> -f infra/main.bicep \
//     -p @infra/main.parameters.dev.json -p hubspotAccessToken="$HUBSPOT_ACCESS_TOKEN"
// docs/azure.md explains every parameter, the identity model and the HubSpot arithmetic.
//
// Plain resources rather than Azure Verified Modules (br/public:avm/...): pycep and checkov
// only read local files, so registry modules would make the offline checks in tests/infra
// vacuous.

targetScope = 'resourceGroup'

@description('Short environment name, used in resource names and tags.')
@allowed([
  'dev'
  'prod'
])
param environmentName string

@description('Azure region of every resource. Flex Consumption is not offered in every region.')
param location string = resourceGroup().location

@description('Prefix of every resource name: lowercase letters and digits, at most 8 so that the storage account (24) and Key Vault (24) names fit.')
@minLength(3)
@maxLength(8)
param appName string = 'hubsync'

@description('HubSpot private-app token. Written to Key Vault only when not empty, so a deployment without it keeps the stored secret.')
@secure()
param hubspotAccessToken string = ''

@description('HUBSYNC_SOURCE_URL: the source database URL without a password (Azure SQL with managed identity); the deploy script passes the GitHub variable HUBSYNC_SOURCE_URL. Empty: source.url of the configuration file. Ignored when sourceUrlFromKeyVault is true.')
param sourceUrl string = ''

@description('true: HUBSYNC_SOURCE_URL is a Key Vault reference to the secret written from sourceUrlSecret (a URL carrying a password).')
param sourceUrlFromKeyVault bool = false

@description('Source URL with a password, stored in Key Vault when not empty. Only used when sourceUrlFromKeyVault is true.')
@secure()
param sourceUrlSecret string = ''

@description('How hubsync signs in to the source database.')
@allowed([
  'managed-identity'
  'sql'
])
param sqlAuth string = 'managed-identity'

@description('Path of the YAML sync configuration, relative to the app root (deployed with the code).')
param hubsyncConfig string = 'config/hubsync.yaml'

@description('NCRONTAB (six fields) of the timer planner.')
param schedule string = '0 */15 * * * *'

@description('Storage queue of batch messages; the host adds "-poison" for the poison queue, hence at most 56 characters.')
@minLength(3)
@maxLength(56)
param queueName string = 'hubsync-batches'

@description('Another HubSpot host (a proxy). Leave empty in Azure: the app then calls api.hubapi.com.')
param hubspotBaseUrl string = ''

@description('Memory of each Flex Consumption instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('On-demand instances per function scale group: the queue worker scales on its own up to this many (the platform accepts 1 to 1000). Every instance shares one HubSpot budget; more only wait on it. docs/azure.md explains 4.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Empty keeps the Key Vault name. After a teardown the old vault stays soft-deleted for 90 days and purge protection keeps its name taken: recover it (docs/azure.md, "Teardown and redeploy") or set any new value here for a vault of another name.')
@maxLength(8)
param keyVaultGeneration string = ''

@description('Days Log Analytics keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

var suffix = take(uniqueString(subscription().id, resourceGroup().id, appName, environmentName), 8)
var tags = {
  application: appName
  environment: environmentName
}
var hubspotTokenSecretName = 'hubspot-access-token'
var sourceUrlSecretName = 'hubsync-source-url'

// The one identity of the app: host storage, queues, Key Vault references, App Insights.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${appName}-${environmentName}-${suffix}'
  location: location
  tags: tags
}

module storage './app/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${toLower(appName)}${environmentName}${suffix}'
    location: location
    tags: tags
    queueName: queueName
  }
}

module monitoring './app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${appName}-${environmentName}-${suffix}'
    applicationInsightsName: 'appi-${appName}-${environmentName}-${suffix}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module keyVault './app/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${appName}-${take(environmentName, 4)}-${empty(keyVaultGeneration) ? take(suffix, 6) : take(uniqueString(suffix, keyVaultGeneration), 6)}'
    location: location
    tags: tags
    hubspotTokenSecretName: hubspotTokenSecretName
    hubspotAccessToken: hubspotAccessToken
    sourceUrlSecretName: sourceUrlSecretName
    sourceUrlSecret: sourceUrlSecret
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: identity.properties.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp './app/function.bicep' = {
  name: 'function'
  params: {
    name: 'func-${appName}-${environmentName}-${suffix}'
    planName: 'plan-${appName}-${environmentName}-${suffix}'
    location: location
    tags: tags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: keyVault.outputs.uri
    hubspotTokenSecretName: hubspotTokenSecretName
    sourceUrlSecretName: sourceUrlSecretName
    sourceUrlFromKeyVault: sourceUrlFromKeyVault
    sourceUrl: sourceUrl
    sqlAuth: sqlAuth
    hubsyncConfig: hubsyncConfig
    schedule: schedule
    queueName: queueName
    hubspotBaseUrl: hubspotBaseUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // Role assignments first, so the host can reach its storage and Key Vault on first start.
  dependsOn: [
    rbac
  ]
}

output functionAppName string = functionApp.outputs.name
output defaultHostName string = functionApp.outputs.defaultHostName
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}'
output healthUrl string = 'https://${functionApp.outputs.defaultHostName}/api/health'
output identityName string = identity.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output storageAccountName string = storage.outputs.name
output queueName string = queueName
output poisonQueueName string = '${queueName}-poison'
output keyVaultName string = keyVault.outputs.name
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
output workbookId string = monitoring.outputs.workbookId
