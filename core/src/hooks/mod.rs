//! The hook pipeline's rule chains: which chains apply to which topic, and applying them to
//! a partition's record batches. A batch no chain claims is never decoded; a batch whose
//! records all come out unchanged is forwarded as it was (same bytes).

pub mod plugin_store;
pub mod rule_book;
pub mod schema_step;
pub mod wasm_step;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use kafkatwin_builtin_transforms::{Hook, RecordData, RuleChain, SchemaRule, Tally, Validated};
use kafkatwin_config::{Config, Problem, TopicRules};
use regex::Regex;
use wasm_step::WasmBinding;

/// Which topics an entry applies to.
#[derive(Clone)]
pub enum Matcher {
    /// Exactly this topic.
    Topic(String),
    /// Topics whose whole name matches.
    Pattern(Regex),
}

impl Matcher {
    /// The matcher of a config entry: `None` if neither key is set, an error for a bad regex.
    pub fn parse(entry: &TopicRules) -> Option<Result<Self, regex::Error>> {
        match (&entry.topic, &entry.pattern) {
            (Some(t), _) => Some(Ok(Self::Topic(t.clone()))),
            (None, Some(p)) => Some(Regex::new(&format!("^(?:{p})$")).map(Self::Pattern)),
            (None, None) => None,
        }
    }

    /// The matcher of a config entry (`None` if neither key is set or the regex is bad).
    pub fn of(entry: &TopicRules) -> Option<Self> {
        Self::parse(entry).and_then(Result::ok)
    }

    /// Whether `topic` is one of its topics.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Topic(t) => t == topic,
            Self::Pattern(re) => re.is_match(topic),
        }
    }
}

/// Compiled rule chains from the config, by hook.
#[derive(Default)]
pub struct Hooks {
    on_produce: Vec<(Matcher, RuleChain)>,
    on_fetch: Vec<(Matcher, RuleChain)>,
    wasm: Vec<(Matcher, WasmBinding)>,
    schemas: Vec<(Matcher, SchemaRule)>,
}

/// Why a batch was not transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// A rule refused a record.
    #[error("record {index}: {source}")]
    Rejected {
        /// Index of the record in the partition's batches.
        index: usize,
        /// The rule's refusal.
        source: kafkatwin_builtin_transforms::Rejected,
    },
    /// The batches could not be decoded or re-encoded.
    #[error("{0}")]
    Corrupt(String),
    /// A record did not match its schema.
    #[error(transparent)]
    Schema(schema_step::SchemaRejected),
    /// A WASM plugin refused the batch, or failed under `on_error: reject`.
    #[error("{message}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// Kafka error code for the partition.
        code: i16,
        /// What happened.
        message: String,
    },
}

impl Hooks {
    /// Compiles the `transformations` section; every problem names its config path.
    pub fn from_config(config: &Config) -> Result<Self, Vec<Problem>> {
        Self::build(&config.transformations)
    }

    /// Compiles rule entries (the config's, then any added at run time); problems are named
    /// `transformations[i]…` by entry index.
    pub fn build(entries: &[TopicRules]) -> Result<Self, Vec<Problem>> {
        let mut hooks = Self::default();
        let mut problems = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("transformations[{i}]");
            let matcher = match Matcher::parse(entry) {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    problems.push(Problem::new(
                        format!("{at}.pattern"),
                        format!("invalid regex: {e}"),
                    ));
                    continue;
                }
                None => continue, // reported by config validation
            };
            let (mut produce, mut fetch) = (Vec::new(), Vec::new());
            for (j, rule) in entry.rules.iter().enumerate() {
                let rule_at = format!("{at}.rules[{j}]");
                match kafkatwin_builtin_transforms::validate(rule.clone()) {
                    Ok(Validated::Plugin(b)) if b.enabled => hooks.wasm.push((matcher.clone(), b)),
                    Ok(Validated::Plugin(_)) => {}
                    Ok(Validated::Schema(r)) if r.enabled => {
                        hooks.schemas.push((matcher.clone(), r));
                    }
                    Ok(Validated::Schema(_)) => {}
                    Ok(Validated::Builtin(c)) if c.rule.hook == Hook::Fetch => fetch.push(c),
                    Ok(Validated::Builtin(c)) => produce.push(c),
                    Err(errors) => problems.extend(
                        errors
                            .into_iter()
                            .map(|e| Problem::new(format!("{rule_at}.{}", e.field), e.to_string())),
                    ),
                }
            }
            let again = matcher.clone();
            if !produce.is_empty() {
                hooks.on_produce.push((matcher, RuleChain::new(produce)));
            }
            if !fetch.is_empty() {
                hooks.on_fetch.push((again, RuleChain::new(fetch)));
            }
        }
        if problems.is_empty() {
            Ok(hooks)
        } else {
            Err(problems)
        }
    }

    /// The on_produce chains bound to `topic`, in config order.
    pub fn produce_chains<'a>(
        &'a self,
        topic: &'a str,
    ) -> impl Iterator<Item = &'a RuleChain> + Clone {
        self.on_produce
            .iter()
            .filter(move |(m, c)| c.is_active() && m.matches(topic))
            .map(|(_, c)| c)
    }

    /// The on_fetch chains bound to `topic`, in config order.
    pub fn fetch_chains<'a>(
        &'a self,
        topic: &'a str,
    ) -> impl Iterator<Item = &'a RuleChain> + Clone {
        self.on_fetch
            .iter()
            .filter(move |(m, c)| c.is_active() && m.matches(topic))
            .map(|(_, c)| c)
    }

    /// The WASM bindings of `topic` for one hook, in config order.
    pub fn wasm_bindings<'a>(
        &'a self,
        topic: &'a str,
        hook: Hook,
    ) -> impl Iterator<Item = &'a WasmBinding> + Clone {
        self.wasm
            .iter()
            .filter(move |(m, b)| b.hook == hook && m.matches(topic))
            .map(|(_, b)| b)
    }

    /// The `validate_schema` rules of `topic`, in config order.
    pub fn schema_rules<'a>(
        &'a self,
        topic: &'a str,
    ) -> impl Iterator<Item = &'a SchemaRule> + Clone {
        self.schemas
            .iter()
            .filter(move |(m, _)| m.matches(topic))
            .map(|(_, r)| r)
    }

    /// Whether a binding anywhere names `plugin`.
    pub fn binds_plugin(&self, plugin: &str) -> bool {
        self.wasm.iter().any(|(_, b)| b.plugin == plugin)
    }

    /// Whether any on_fetch chain or binding exists.
    pub fn has_fetch(&self) -> bool {
        !self.on_fetch.is_empty() || self.wasm.iter().any(|(_, b)| b.hook == Hook::Fetch)
    }

    /// Whether any on_produce chain or binding exists (so produce requests need looking at).
    pub fn has_produce(&self) -> bool {
        !self.on_produce.is_empty()
            || !self.schemas.is_empty()
            || self.wasm.iter().any(|(_, b)| b.hook == Hook::Produce)
    }
}

/// Applies `chains` to every record of a partition's batches. `Ok(None)` when nothing
/// changed (the original bytes go on); otherwise the re-encoded batches, with the original
/// compression, producer id, epoch, sequences and timestamps.
pub fn transform_batches<'a>(
    chains: impl Iterator<Item = &'a RuleChain> + Clone,
    records: &Bytes,
    client: Option<&str>,
) -> Result<Option<Bytes>, TransformError> {
    let mut tallies = Vec::new();
    transform_batches_tallied(chains, records, client, &mut tallies)
}

/// [`transform_batches`], counting per-rule outcomes in `tallies` (one per chain, in order).
pub fn transform_batches_tallied<'a>(
    chains: impl Iterator<Item = &'a RuleChain> + Clone,
    records: &Bytes,
    client: Option<&str>,
    tallies: &mut Vec<Tally>,
) -> Result<Option<Bytes>, TransformError> {
    tallies.resize(chains.clone().count(), Tally::default());
    let mut sets = decode(records)?;
    let mut changed = false;
    let mut index = 0usize;
    for set in &mut sets {
        for record in &mut set.records {
            let mut data = RecordData {
                key: record.key.as_ref().map(|k| k.to_vec()),
                value: record.value.as_ref().map(|v| v.to_vec()),
                headers: record
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_ref().map(|b| b.to_vec())))
                    .collect(),
            };
            let mut record_changed = false;
            for (chain, tally) in chains.clone().zip(tallies.iter_mut()) {
                let applied = chain
                    .apply_tallied(&mut data, client, tally)
                    .map_err(|source| TransformError::Rejected { index, source })?;
                record_changed |= applied.changed;
            }
            if record_changed {
                changed = true;
                record.value = data.value.map(Bytes::from);
                let mut headers = IndexMap::with_capacity(data.headers.len());
                for (k, v) in data.headers {
                    headers.insert(StrBytes::from_string(k), v.map(Bytes::from));
                }
                record.headers = headers;
            }
            index += 1;
        }
    }
    if !changed {
        return Ok(None);
    }
    encode_sets(&sets, records.len()).map(Some)
}

/// Encodes record sets again, each with its own version and compression; sets left with no
/// records are dropped. `size` is the original bytes' length, for the buffer.
pub(crate) fn encode_sets(
    sets: &[kafka_protocol::records::RecordSet],
    size: usize,
) -> Result<Bytes, TransformError> {
    let mut out = BytesMut::with_capacity(size + 256);
    for set in sets.iter().filter(|s| !s.records.is_empty()) {
        let options = RecordEncodeOptions {
            version: set.version,
            compression: set.compression,
        };
        RecordBatchEncoder::encode(&mut out, &set.records, &options)
            .map_err(|e| TransformError::Corrupt(format!("cannot re-encode the batches: {e}")))?;
    }
    Ok(out.freeze())
}

/// Decodes a partition's record batches for a hook step (only steps that need records call
/// this: a batch no step claims is never decoded).
pub(crate) fn decode(
    records: &Bytes,
) -> Result<Vec<kafka_protocol::records::RecordSet>, TransformError> {
    let mut buf = records.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .map_err(|e| TransformError::Corrupt(format!("cannot decode the record batches: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_undecodable_batches() {
        let chain = RuleChain::new(vec![
            kafkatwin_builtin_transforms::CompiledRule::compile(
                serde_json::from_str(
                    r#"{"id":"r","actions":[{"type":"remove_field","field":"a"}]}"#,
                )
                .expect("rule"),
            )
            .expect("compiles"),
        ]);
        // No records: nothing to do, the (empty) bytes go on as they are.
        let out = transform_batches(std::iter::once(&chain), &Bytes::new(), None).expect("empty");
        assert!(out.is_none());
        // Not a record batch: a clear error, not a panic.
        let err = transform_batches(
            std::iter::once(&chain),
            &Bytes::from_static(b"garbage!!"),
            None,
        )
        .expect_err("corrupt");
        assert!(matches!(err, TransformError::Corrupt(_)), "{err}");
    }
}
