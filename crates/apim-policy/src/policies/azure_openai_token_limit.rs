//! `<azure-openai-token-limit>`: Limits Azure OpenAI token consumption per key as a tokens-per-minute rate and/or a periodic token quota.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/azure-openai-token-limit-policy
//! Executed by apim-exec (`policies/token_limit.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<azure-openai-token-limit>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Rate limiting and quotas",
    summary: "Limits Azure OpenAI token consumption per key as a tokens-per-minute rate and/or a periodic token quota.",
    doc: "https://learn.microsoft.com/azure/api-management/azure-openai-token-limit-policy",
    sections: &[Section::Inbound],
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
    /// Values of `TokenQuotaPeriod`.
    pub enum TokenQuotaPeriod {
        Hourly = "Hourly",
        Daily = "Daily",
        Weekly = "Weekly",
        Monthly = "Monthly",
        Yearly = "Yearly",
    }
}

element! {
    /// Limits Azure OpenAI token consumption per key as a tokens-per-minute rate and/or a periodic token quota.
    pub struct AzureOpenaiTokenLimit = "azure-openai-token-limit";
    attrs {
        /// one counter per key value across all scopes
        counter_key: String = "counter-key", required, expr;
        /// doc silent on expressions. Rate limit; either tokens-per-minute, or token-quota+token-quota-period, or both
        tokens_per_minute: i64 = "tokens-per-minute", optional, expr;
        /// tokens allowed per token-quota-period; expressions NOT allowed in 08/2025 doc
        token_quota: i64 = "token-quota", optional, literal;
        /// fixed window; period start = UTC now truncated to the unit; doc silent on expressions
        token_quota_period: TokenQuotaPeriod = "token-quota-period", optional, expr;
        /// doc silent on expressions. true: estimate prompt tokens up front from prompt; false: use usage from model response
        estimate_prompt_tokens: bool = "estimate-prompt-tokens", required, expr;
        retry_after_header_name: String = "retry-after-header-name", optional, literal, default "Retry-After";
        retry_after_variable_name: String = "retry-after-variable-name", optional, literal;
        /// estimate; may be larger than actual
        remaining_quota_tokens_header_name: String = "remaining-quota-tokens-header-name", optional, literal;
        /// estimate; may be larger than actual
        remaining_quota_tokens_variable_name: String = "remaining-quota-tokens-variable-name", optional, literal;
        /// remaining of tokens-per-minute
        remaining_tokens_header_name: String = "remaining-tokens-header-name", optional, literal;
        remaining_tokens_variable_name: String = "remaining-tokens-variable-name", optional, literal;
        /// added only after backend response
        tokens_consumed_header_name: String = "tokens-consumed-header-name", optional, literal;
        /// doc silent on expressions; initialised in backend section to estimated prompt tokens (0 if not estimating), updated in outbound with reported usage
        tokens_consumed_variable_name: String = "tokens-consumed-variable-name", optional, expr;
    }
    children {
    }
    content: ();
    rules: [Rule::AtLeastOne(&["tokens-per-minute", "token-quota"])];
}
