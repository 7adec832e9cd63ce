// The seed's infrastructure: two Foundry backends with a circuit breaker each, and a priority pool.
// apim-emu reads the ARM form (backends.json); compile this with `az bicep build --file backends.bicep`.
param apimName string
param primaryUrl string
param backupUrl string

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

var breaker = {
  acceptRetryAfter: true
  tripDuration: 'PT1M'
  failureCondition: {
    count: 1
    interval: 'PT1M'
    statusCodeRanges: [
      { min: 429, max: 429 }
      { min: 500, max: 599 }
    ]
  }
}

resource foundryPrimary 'Microsoft.ApiManagement/service/backends@2025-03-01-preview' = {
  parent: apim
  name: 'foundry-primary'
  properties: {
    description: 'Primary Foundry model endpoint'
    protocol: 'http'
    url: primaryUrl
    circuitBreaker: { rules: [ union(breaker, { name: 'foundry-primary-breaker' }) ] }
  }
}

resource foundryBackup 'Microsoft.ApiManagement/service/backends@2025-03-01-preview' = {
  parent: apim
  name: 'foundry-backup'
  properties: {
    description: 'Backup Foundry model endpoint'
    protocol: 'http'
    url: backupUrl
    circuitBreaker: { rules: [ union(breaker, { name: 'foundry-backup-breaker' }) ] }
  }
}

resource foundryPool 'Microsoft.ApiManagement/service/backends@2025-03-01-preview' = {
  parent: apim
  name: 'foundry-model-pool'
  properties: {
    description: 'Priority-based Foundry model endpoint pool'
    type: 'Pool'
    pool: {
      failureResponse: { statusCode: 503 }
      services: [
        { id: foundryPrimary.id, priority: 1, weight: 1 }
        { id: foundryBackup.id, priority: 2, weight: 1 }
      ]
    }
  }
}
