//! The wire format of `Microsoft.ApiManagement/service/backends` properties (ARM and the REST API share it).
//!
//! Azure: bicep-types-az `Microsoft.ApiManagement` 2024-05-01 / 2025-03-01-preview `BackendContractProperties`
//! (reference 03 §4). Every field is optional here; `load` decides what is required.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertiesDto {
    pub url: Option<String>,
    pub protocol: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub pool: Option<PoolDto>,
    pub circuit_breaker: Option<CircuitBreakerDto>,
    pub credentials: Option<CredentialsDto>,
    #[serde(flatten)]
    pub _other: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolDto {
    pub services: Option<Vec<ServiceDto>>,
    pub failure_response: Option<FailureResponseDto>,
    #[serde(flatten)]
    pub _other: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDto {
    pub id: Option<String>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    #[serde(flatten)]
    pub _other: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureResponseDto {
    pub status_code: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerDto {
    pub rules: Option<Vec<RuleDto>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleDto {
    pub name: Option<String>,
    pub trip_duration: Option<String>,
    pub accept_retry_after: Option<bool>,
    pub failure_condition: Option<FailureConditionDto>,
    pub failure_response: Option<FailureResponseDto>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureConditionDto {
    pub count: Option<i64>,
    pub percentage: Option<i64>,
    pub interval: Option<String>,
    pub status_code_ranges: Option<Vec<RangeDto>>,
    pub error_reasons: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RangeDto {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsDto {
    pub header: Option<std::collections::BTreeMap<String, Vec<String>>>,
    pub query: Option<std::collections::BTreeMap<String, Vec<String>>>,
    pub authorization: Option<AuthorizationDto>,
    pub managed_identity: Option<ManagedIdentityDto>,
    #[serde(flatten)]
    pub _other: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AuthorizationDto {
    pub scheme: Option<String>,
    pub parameter: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ManagedIdentityDto {
    pub resource: Option<String>,
}

/// Reads properties, naming the JSON path of a value of the wrong type.
pub fn read(properties: &Value) -> Result<PropertiesDto, (String, String)> {
    serde_path_to_error::deserialize(properties.clone()).map_err(|e| {
        let path = e.path().to_string();
        (path, e.into_inner().to_string())
    })
}
