// Package prompts will hold billwire's MCP prompt templates for the common
// billing jobs (add_subscription_billing, add_one_time_purchase,
// add_usage_credits, go_live, debug_webhooks); they arrive with the
// fulfillment work, which they walk the agent through.
package prompts
