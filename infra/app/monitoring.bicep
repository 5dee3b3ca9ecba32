// Log Analytics + workspace-based Application Insights (Entra ID ingestion only) and a
// workbook built from the saved queries in infra/queries/*.kql.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

var queries = [
  {
    name: 'runs'
    title: 'What synced, per run and object'
    query: loadTextContent('../queries/sync_runs.kql')
  }
  {
    name: 'failures'
    title: 'What failed, and why'
    query: loadTextContent('../queries/failures.kql')
  }
  {
    name: 'rateLimits'
    title: 'HubSpot 429s and rate-limit headroom (per 10 s window)'
    query: loadTextContent('../queries/rate_limits.kql')
  }
  {
    name: 'poison'
    title: 'Messages moved to the poison queue'
    query: loadTextContent('../queries/poison.kql')
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

// One workbook, one query step per saved query; the .kql files stay runnable on their own
// in the Application Insights "Logs" blade.
var workbookContent = {
  version: 'Notebook/1.0'
  items: [for q in queries: {
    type: 3
    name: q.name
    content: {
      version: 'KqlItem/1.0'
      title: q.title
      query: q.query
      size: 0
      queryType: 0
      resourceType: 'microsoft.insights/components'
      visualization: 'table'
    }
  }]
  isLocked: false
  fallbackResourceIds: [
    applicationInsights.id
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, applicationInsightsName, 'hubsync-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'hubsync: runs, failures, rate limits'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: string(workbookContent)
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = workspace.id
output workbookId string = workbook.id
