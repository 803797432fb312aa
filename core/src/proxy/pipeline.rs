//! Running the on_produce hooks on a produce request before it is routed: each partition's
//! batches go through the chains bound to its topic; refused partitions are answered with
//! `INVALID_RECORD` and a message naming the rule, the others go on.

use crate::hooks::{TransformError, transform_batches_tallied};
use crate::proxy::Proxy;
use crate::wire::records::complete_batches_len;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{FetchResponse, ProduceRequest, ProduceResponse, produce_response};
use kafka_protocol::protocol::StrBytes;
use kafkatwin_builtin_transforms::{Hook, RuleChain, Tally};
use kafkatwin_plugin_sdk::BatchContext;
use std::time::Instant;

/// What the hooks did to a produce request.
pub struct ProduceHooks {
    /// Whether any batch was rewritten (the client's frame can no longer be forwarded as is).
    pub changed: bool,
    /// Answers for the partitions the hooks refused (already removed from the request).
    pub refused: Option<ProduceResponse>,
}

impl Proxy {
    /// Runs one partition's batches through its topic's rule chains (counted per rule), then
    /// its WASM bindings. `Ok(None)`: nothing changed, the original bytes go on.
    fn run_hooks<'a>(
        &self,
        hook: Hook,
        chains: impl Iterator<Item = &'a RuleChain> + Clone,
        plugins: impl Iterator<Item = &'a crate::hooks::wasm_step::WasmBinding> + Clone,
        records: &Bytes,
        ctx: &BatchContext<'_>,
    ) -> Result<Option<Bytes>, TransformError> {
        let mut current = None;
        if chains.clone().next().is_some() {
            let started = Instant::now();
            let mut tallies = Vec::new();
            let result =
                transform_batches_tallied(chains.clone(), records, ctx.client_id, &mut tallies);
            self.record_hook(hook, chains, &tallies, started);
            current = result?;
        }
        let input = current.clone().unwrap_or_else(|| records.clone());
        Ok(self.run_plugins(hook, plugins, &input, ctx)?.or(current))
    }

    /// Checks one partition's records against its topic's `validate_schema` rules.
    fn check_schemas<'a>(
        &self,
        rules: impl Iterator<Item = &'a kafkatwin_builtin_transforms::SchemaRule> + Clone,
        topic: &str,
        records: &Bytes,
    ) -> Result<(), TransformError> {
        let m = &self.metrics;
        crate::hooks::schema_step::validate_records(
            &self.books.schemas,
            rules,
            topic,
            records,
            |s, o, n| {
                m.schema_validations
                    .with_label_values(&[topic, s, o])
                    .inc_by(n);
            },
        )
    }

    /// Runs the WASM bindings on one partition's batches, counting each call.
    fn run_plugins<'a>(
        &self,
        hook: Hook,
        bindings: impl Iterator<Item = &'a crate::hooks::wasm_step::WasmBinding> + Clone,
        records: &Bytes,
        ctx: &BatchContext<'_>,
    ) -> Result<Option<Bytes>, TransformError> {
        if bindings.clone().next().is_none() || records.is_empty() {
            return Ok(None);
        }
        let m = &self.metrics;
        crate::hooks::wasm_step::run_bindings(
            &self.books.plugins,
            bindings,
            records,
            ctx,
            |b, called| {
                m.plugin_calls
                    .with_label_values(&[&b.plugin, hook.label(), called.outcome])
                    .inc();
                m.plugin_latency
                    .with_label_values(&[&b.plugin, hook.label()])
                    .observe(called.seconds);
            },
        )
    }

    /// Per-rule counts and the batch's hook time, once per partition batch.
    fn record_hook<'a>(
        &self,
        hook: Hook,
        chains: impl Iterator<Item = &'a RuleChain>,
        tallies: &[Tally],
        started: Instant,
    ) {
        let m = &self.metrics;
        m.hook_latency
            .with_label_values(&[hook.label()])
            .observe(started.elapsed().as_secs_f64());
        for (chain, tally) in chains.zip(tallies) {
            for (id, counts) in chain.rule_ids().zip(&tally.0) {
                let outcomes = [
                    ("applied", counts.applied),
                    ("skipped", counts.skipped),
                    ("rejected", counts.rejected),
                ];
                for (outcome, n) in outcomes {
                    if n > 0 {
                        m.rule_records
                            .with_label_values(&[hook.label(), id, outcome])
                            .inc_by(n);
                    }
                }
                if counts.nanos > 0 {
                    m.rule_seconds
                        .with_label_values(&[hook.label(), id])
                        .inc_by(counts.nanos as f64 / 1e9);
                }
            }
        }
    }

    /// Applies the on_fetch chains to a fetch response for `client`: what the client reads
    /// changes, the stored data does not. Returns whether anything changed. A batch cut off
    /// at the end of a partition's data is dropped (the client fetches it again whole).
    pub(super) fn on_fetch(&self, resp: &mut FetchResponse, client: Option<&str>) -> bool {
        let hooks = self.books.rules.hooks();
        if !hooks.has_fetch() {
            return false;
        }
        let mut changed = false;
        for topic in &mut resp.responses {
            let name = topic.topic.to_string();
            let chains = hooks.fetch_chains(&name);
            let plugins = hooks.wasm_bindings(&name, Hook::Fetch);
            if chains.clone().next().is_none() && plugins.clone().next().is_none() {
                continue;
            }
            for p in &mut topic.partitions {
                let Some(records) = &p.records else { continue };
                let whole = records.slice(..complete_batches_len(records));
                let ctx = BatchContext {
                    topic: &name,
                    partition: p.partition_index,
                    client_id: client,
                };
                let result =
                    self.run_hooks(Hook::Fetch, chains.clone(), plugins.clone(), &whole, &ctx);
                match result {
                    Ok(None) => {}
                    Ok(Some(rewritten)) => {
                        p.records = Some(rewritten);
                        changed = true;
                    }
                    Err(e) => {
                        // Never hand out what a read rule could not process.
                        tracing::warn!(
                            "topic {name} partition {}: on_fetch: {e}",
                            p.partition_index
                        );
                        p.records = Some(Bytes::new());
                        p.error_code = ResponseError::CorruptMessage.code();
                        changed = true;
                    }
                }
            }
        }
        changed
    }

    /// Applies the on_produce chains to `req` in place.
    pub(super) fn on_produce(&self, req: &mut ProduceRequest) -> ProduceHooks {
        let mut out = ProduceHooks {
            changed: false,
            refused: None,
        };
        let hooks = self.books.rules.hooks();
        if !hooks.has_produce() {
            return out;
        }
        let mut refused = ProduceResponse::default();
        for topic in &mut req.topic_data {
            let name = topic.name.to_string();
            let chains = hooks.produce_chains(&name);
            let plugins = hooks.wasm_bindings(&name, Hook::Produce);
            let schemas = hooks.schema_rules(&name);
            if chains.clone().next().is_none()
                && plugins.clone().next().is_none()
                && schemas.clone().next().is_none()
            {
                continue;
            }
            let mut failed = Vec::new();
            for p in &mut topic.partition_data {
                let Some(records) = &p.records else { continue };
                let ctx = BatchContext {
                    topic: &name,
                    partition: p.index,
                    client_id: None,
                };
                let result = self
                    .check_schemas(schemas.clone(), &name, records)
                    .and_then(|()| {
                        self.run_hooks(
                            Hook::Produce,
                            chains.clone(),
                            plugins.clone(),
                            records,
                            &ctx,
                        )
                    });
                match result {
                    Ok(None) => {}
                    Ok(Some(rewritten)) => {
                        p.records = Some(rewritten);
                        out.changed = true;
                    }
                    Err(e) => {
                        let code = match &e {
                            TransformError::Rejected { .. } | TransformError::Schema(_) => {
                                ResponseError::InvalidRecord.code()
                            }
                            TransformError::Corrupt(_) => ResponseError::CorruptMessage.code(),
                            TransformError::Plugin { code, .. } => *code,
                        };
                        let msg = format!("topic {name} partition {}: {e}", p.index);
                        tracing::info!("produce refused by the hook pipeline: {msg}");
                        let mut answer = produce_response::PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(code)
                            .with_base_offset(-1)
                            .with_error_message(Some(StrBytes::from_string(msg.clone())));
                        if let TransformError::Schema(s) = &e {
                            answer.record_errors = vec![
                                produce_response::BatchIndexAndErrorMessage::default()
                                    .with_batch_index(i32::try_from(s.index).unwrap_or(i32::MAX))
                                    .with_batch_index_error_message(Some(StrBytes::from_string(
                                        msg,
                                    ))),
                            ];
                        }
                        failed.push(answer);
                    }
                }
            }
            if !failed.is_empty() {
                let gone: Vec<i32> = failed.iter().map(|f| f.index).collect();
                topic.partition_data.retain(|p| !gone.contains(&p.index));
                refused.responses.push(
                    produce_response::TopicProduceResponse::default()
                        .with_name(topic.name.clone())
                        .with_partition_responses(failed),
                );
            }
        }
        req.topic_data.retain(|t| !t.partition_data.is_empty());
        if !refused.responses.is_empty() {
            out.refused = Some(refused);
        }
        out
    }
}
