//! Azure Resource Manager deployment templates, evaluated locally.
//!
//! [`deploy`] takes a template (the JSON `az bicep build` emits or people export) and parameter values and
//! returns the resources it would deploy, with template expressions evaluated: parameters (typed by their
//! declaration), variables, `condition`, resource/property/variable/output `copy` loops, child resources,
//! nested `Microsoft.Resources/deployments` with inline templates (inner and outer expression scope) and their
//! outputs. Runtime properties of resources (`reference()`, `listKeys()`) cannot be known locally: a value that
//! needs one is carried as *unresolved* (with the file, JSON path and reason) instead of failing the whole
//! deployment, so a consumer can decide whether it matters (an overridden URL does not).
//!
//! This crate knows nothing about API Management.

pub mod duration;
pub mod eval;
pub mod expr;
mod functions;
pub mod hash;
pub mod locate;
mod template;

pub use eval::EvalError;
pub use template::{
    Deployed, Deployment, Options, ParamValue, TemplateError, Unresolved, deploy,
    read_parameters_file,
};

use serde_json::{Value, json};

/// Where the deployment happens: what `subscription()`, `resourceGroup()`, `deployment()`, `utcNow()` return.
#[derive(Debug, Clone)]
pub struct DeploymentContext {
    pub subscription_id: String,
    pub tenant_id: String,
    pub resource_group: String,
    pub location: String,
    pub deployment_name: String,
    /// `utcNow()`; injected so that results are reproducible.
    pub now: chrono::DateTime<chrono::Utc>,
    /// Seed of `newGuid()`.
    pub seed: u64,
    counter: std::cell::Cell<u64>,
}

impl Default for DeploymentContext {
    fn default() -> Self {
        DeploymentContext {
            subscription_id: "00000000-0000-0000-0000-000000000000".into(),
            tenant_id: "00000000-0000-0000-0000-000000000000".into(),
            resource_group: "apim-emu".into(),
            location: "westeurope".into(),
            deployment_name: "apim-emu".into(),
            now: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            seed: 0,
            counter: std::cell::Cell::new(0),
        }
    }
}

impl DeploymentContext {
    /// `newGuid()`: deterministic, from the seed and a counter.
    pub fn new_guid(&self) -> String {
        let n = self.counter.get();
        self.counter.set(n + 1);
        hash::guid(&[&format!("apim-emu-newguid-{}-{n}", self.seed)])
    }

    /// `environment()` for the public Azure cloud.
    pub fn environment(&self) -> Value {
        json!({
            "name": "AzureCloud",
            "gallery": "https://gallery.azure.com/",
            "graph": "https://graph.windows.net/",
            "portal": "https://portal.azure.com",
            "graphAudience": "https://graph.windows.net/",
            "activeDirectoryDataLake": "https://datalake.azure.net/",
            "batch": "https://batch.core.windows.net/",
            "media": "https://rest.media.azure.net",
            "sqlManagement": "https://management.core.windows.net:8443/",
            "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
            "resourceManager": "https://management.azure.com/",
            "authentication": {
                "loginEndpoint": "https://login.microsoftonline.com/",
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common",
                "identityProvider": "AAD"
            },
            "suffixes": {
                "acrLoginServer": ".azurecr.io",
                "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
                "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
                "azureFrontDoorEndpointSuffix": "azurefd.net",
                "keyvaultDns": ".vault.azure.net",
                "sqlServerHostname": ".database.windows.net",
                "storage": "core.windows.net"
            }
        })
    }
}
