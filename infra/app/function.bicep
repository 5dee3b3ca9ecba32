// The Function App on a Flex Consumption (FC1) plan: Linux, Python 3.11, one user-assigned
// identity for everything, app settings without a single key or password.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the user-assigned identity.')
param identityId string
@description('Client id of the user-assigned identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param deploymentContainerName string

@description('Connection string of Application Insights: an endpoint and an id, not a secret; ingestion needs Entra ID since local auth is off.')
param applicationInsightsConnectionString string

@description('Vault URI, ending with a slash.')
param keyVaultUri string
param hubspotTokenSecretName string
param sourceUrlSecretName string
param sourceUrlFromKeyVault bool = false
param sourceUrl string = ''
param sqlAuth string = 'managed-identity'

param hubsyncConfig string
param schedule string
param queueName string
param hubspotBaseUrl string = ''

param instanceMemoryMB int = 2048
@description('On-demand instances per function scale group (per-function scaling: the worker, the poison function, the timer and the HTTP group each get their own).')
param maximumInstanceCount int = 4

// Versionless secret URIs: the app picks up a rotated secret without a redeployment.
var hubspotTokenReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${hubspotTokenSecretName}/)'
var sourceUrlReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${sourceUrlSecretName}/)'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION /
      // WEBSITE_RUN_FROM_PACKAGE: the runtime comes from functionAppConfig above.
      appSettings: [
        // Host storage and the queue trigger connection, by identity.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: blobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: queueEndpoint
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: tableEndpoint
        }
        // Telemetry, authenticated with Entra ID (Application Insights has local auth off).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // The Python worker leaves its logs to the app's OpenTelemetry export (host.json
        // telemetryMode, shared/telemetry.py, signed in with the identity), so each event field
        // is a customDimension and no line goes out twice. PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY
        // stays unset: with it the worker would set up a second exporter of its own.
        {
          name: 'PYTHON_ENABLE_OPENTELEMETRY'
          value: 'true'
        }
        // DefaultAzureCredential in the code picks the user-assigned identity.
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        // hubsync's own settings (shared/settings.py APP_SETTINGS).
        {
          name: 'HUBSYNC_CONFIG'
          value: hubsyncConfig
        }
        {
          name: 'HUBSPOT_ACCESS_TOKEN'
          value: hubspotTokenReference
        }
        {
          name: 'HUBSYNC_SOURCE_URL'
          value: sourceUrlFromKeyVault ? sourceUrlReference : sourceUrl
        }
        {
          name: 'HUBSYNC_SQL_AUTH'
          value: sqlAuth
        }
        {
          name: 'HUBSPOT_BASE_URL'
          value: hubspotBaseUrl
        }
        {
          name: 'HUBSYNC_SCHEDULE'
          value: schedule
        }
        {
          name: 'HUBSYNC_QUEUE_NAME'
          value: queueName
        }
      ]
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
