//! `<set-backend-service>`: Changes the backend base URL of the current request, either to a literal URL or to a named backend entity (single, pool, Service Fabric or Dapr).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-backend-service-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-backend-service>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Routing",
    summary: "Changes the backend base URL of the current request, either to a literal URL or to a named backend entity (single, pool, Service Fabric or Dapr).",
    doc: "https://learn.microsoft.com/azure/api-management/set-backend-service-policy",
    sections: &[Section::Inbound, Section::Backend],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: true,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `SfReplicaType`.
    pub enum SfReplicaType {
        Primary = "primary",
        Secondary = "secondary",
    }
}

element! {
    /// Changes the backend base URL of the current request, either to a literal URL or to a named backend entity (single, pool, Service Fabric or Dapr).
    pub struct SetBackendService = "set-backend-service";
    attrs {
        /// New backend base URL. One of base-url / backend-id is required.
        base_url: String = "base-url", optional, expr;
        /// Name (id) of a backend entity. One of base-url / backend-id is required. Must be the literal 'dapr' for the Dapr form.
        backend_id: String = "backend-id", optional, expr;
        /// Service Fabric only: condition that decides whether a call to the Service Fabric backend is repeated with a new resolution. The doc gives no type; bool is inferred from 'condition'.
        sf_resolve_condition: bool = "sf-resolve-condition", optional, expr;
        /// Service Fabric only: changes the service instance at runtime.
        sf_service_instance_name: String = "sf-service-instance-name", optional, expr;
        /// Service Fabric only: partition key of the service.
        sf_partition_key: String = "sf-partition-key", optional, expr;
        /// Service Fabric only, with backend-id: picks a named listener of a Reliable Service. If omitted, the unnamed listener is used.
        sf_listener_name: String = "sf-listener-name", optional, expr;
        /// UNVERIFIED: only in the doc's Service Fabric example (sf-replica-type="primary"), not in the attribute table. Allowed values are guessed from the backend-id text ('primary or secondary replica'). Expressions: doc silent.
        sf_replica_type: SfReplicaType = "sf-replica-type", optional, expr;
        /// Dapr form only (separate page set-backend-service-dapr-policy). Required when backend-id="dapr". Name of the target microservice, used for the Dapr appId.
        dapr_app_id: String = "dapr-app-id", optional, expr;
        /// Dapr form only. Required when backend-id="dapr". Method name or URL to invoke; maps to Dapr method-name.
        dapr_method: String = "dapr-method", optional, expr;
        /// Dapr form only, optional. Namespace of the target microservice; appended to appId as {app-id}.{ns}.
        dapr_namespace: String = "dapr-namespace", optional, expr;
    }
    children {
    }
    content: ();
    rules: [Rule::ExactlyOne(&["base-url", "backend-id"])];
}
