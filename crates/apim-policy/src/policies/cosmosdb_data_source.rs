//! `<cosmosdb-data-source>`: GraphQL resolver policy that resolves a field with a single Cosmos DB query, point read, delete or write request.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cosmosdb-data-source-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
#[allow(unused_imports)]
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cosmosdb-data-source>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "GraphQL resolvers",
    summary: "GraphQL resolver policy that resolves a field with a single Cosmos DB query, point read, delete or write request.",
    doc: "https://learn.microsoft.com/azure/api-management/cosmosdb-data-source-policy",
    sections: &[],
    scopes: &[],
    executes: false,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `DataType`.
    pub enum DataType {
        String = "string",
        Number = "number",
        Bool = "bool",
        None = "none",
        Null = "null",
    }
}

crate::attr_enum! {
    /// Values of `Template`.
    pub enum Template {
        Liquid = "liquid",
    }
}

crate::attr_enum! {
    /// Values of `Type`.
    pub enum Type {
        Match = "match",
        NoMatch = "no-match",
    }
}

crate::attr_enum! {
    /// Values of `ConsistencyLevel`.
    pub enum ConsistencyLevel {
        BoundedStaleness = "bounded-staleness",
        ConsistentPrefix = "consistent-prefix",
        Eventual = "eventual",
        Session = "session",
        Strong = "strong",
    }
}

crate::attr_enum! {
    /// Values of `WriteRequestType`.
    pub enum WriteRequestType {
        Insert = "insert",
        Replace = "replace",
        Upsert = "upsert",
    }
}

element! {
    /// GraphQL resolver policy that resolves a field with a single Cosmos DB query, point read, delete or write request.
    pub struct CosmosdbDataSource = "cosmosdb-data-source";
    attrs {
    }
    children {
        connection_info: one ConnectionInfo = "connection-info";
        query_request: optional QueryRequest = "query-request";
        read_request: optional ReadRequest = "read-request";
        delete_request: optional DeleteRequest = "delete-request";
        write_request: optional WriteRequest = "write-request";
        response: optional Response = "response";
    }
    content: ();
    rules: [];
}

element! {
    /// `<response>` element.
    pub struct Response = "response";
    attrs {
    }
    children {
        set_body: optional super::set_body::SetBody = "set-body";
        publish_event: optional super::publish_event::PublishEvent = "publish-event";
    }
    content: ();
    rules: [];
}

element! {
    /// `<write-request>` element.
    pub struct WriteRequest = "write-request";
    attrs {
        type_: WriteRequestType = "type", optional, expr, default "upsert";
        /// values from policy statement; table just says String
        consistency_level: ConsistencyLevel = "consistency-level", optional, expr;
        /// table only, not in statement
        indexing_directive: String = "indexing-directive", optional, expr, default "default";
        pre_trigger: String = "pre-trigger", optional, expr;
        post_trigger: String = "post-trigger", optional, expr;
    }
    children {
        id: optional WriteRequestId = "id";
        partition_key: optional PartitionKey = "partition-key";
        etag: optional Etag = "etag";
        set_body: optional super::set_body::SetBody = "set-body";
    }
    content: ();
    rules: [];
}

element! {
    /// `<id>` element.
    pub struct WriteRequestId = "id";
    attrs {
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<delete-request>` element.
    pub struct DeleteRequest = "delete-request";
    attrs {
        /// values from policy statement; table just says String
        consistency_level: ConsistencyLevel = "consistency-level", optional, expr;
        pre_trigger: String = "pre-trigger", optional, expr;
        post_trigger: String = "post-trigger", optional, expr;
    }
    children {
        etag: optional Etag = "etag";
        id: one DeleteRequestId = "id";
        partition_key: optional PartitionKey = "partition-key";
    }
    content: ();
    rules: [];
}

element! {
    /// `<id>` element.
    pub struct DeleteRequestId = "id";
    attrs {
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<etag>` element.
    pub struct Etag = "etag";
    attrs {
        type_: Type = "type", optional, expr, default "match";
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<read-request>` element.
    pub struct ReadRequest = "read-request";
    attrs {
    }
    children {
        id: one Id = "id";
        partition_key: optional PartitionKey = "partition-key";
    }
    content: ();
    rules: [];
}

element! {
    /// `<id>` element.
    pub struct Id = "id";
    attrs {
        /// shown in statement only
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<query-request>` element.
    pub struct QueryRequest = "query-request";
    attrs {
        enable_low_precision_order_by: bool = "enable-low-precision-order-by", optional, expr;
    }
    children {
        sql_statement: optional SqlStatement = "sql-statement";
        parameters: optional Parameters = "parameters";
        partition_key: optional PartitionKey = "partition-key";
        paging: optional Paging = "paging";
    }
    content: ();
    rules: [];
}

element! {
    /// `<paging>` element.
    pub struct Paging = "paging";
    attrs {
    }
    children {
        max_item_count: one MaxItemCount = "max-item-count";
        continuation_token: one ContinuationToken = "continuation-token";
    }
    content: ();
    rules: [];
}

element! {
    /// `<continuation-token>` element.
    pub struct ContinuationToken = "continuation-token";
    attrs {
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<max-item-count>` element.
    pub struct MaxItemCount = "max-item-count";
    attrs {
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<partition-key>` element.
    pub struct PartitionKey = "partition-key";
    attrs {
        data_type: DataType = "data-type", optional, expr, default "string";
        template: Template = "template", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<parameters>` element.
    pub struct Parameters = "parameters";
    attrs {
    }
    children {
        parameters: many Parameter = "parameter";
    }
    content: ();
    rules: [];
}

element! {
    /// `<parameter>` element.
    pub struct Parameter = "parameter";
    attrs {
        /// @-notation
        name: String = "name", required, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<sql-statement>` element.
    pub struct SqlStatement = "sql-statement";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<connection-info>` element.
    pub struct ConnectionInfo = "connection-info";
    attrs {
    }
    children {
        connection_string: one ConnectionString = "connection-string";
        database_name: one DatabaseName = "database-name";
        container_name: one ContainerName = "container-name";
    }
    content: ();
    rules: [];
}

element! {
    /// `<container-name>` element.
    pub struct ContainerName = "container-name";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<database-name>` element.
    pub struct DatabaseName = "database-name";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<connection-string>` element.
    pub struct ConnectionString = "connection-string";
    attrs {
        /// system-assigned identity instead of AccountKey
        use_managed_identity: bool = "use-managed-identity", optional, expr, default "false";
    }
    children {
    }
    content: Text;
    rules: [];
}
