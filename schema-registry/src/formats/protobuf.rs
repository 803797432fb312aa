//! Protobuf schemas, as `.proto` text or as the base64 `FileDescriptorProto` that
//! confluent-kafka's serializers register, compiled with `protox` (no `protoc`); records
//! decoded with `prost-reflect`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use std::collections::HashMap;

/// The name given to a registered `.proto` text, which names no file of its own.
const MAIN: &str = "__registered__.proto";

/// A compiled Protobuf schema.
pub struct ProtoSchema {
    pool: DescriptorPool,
    main: String,
    /// The registered text, trimmed, or the base64 descriptor as registered.
    canonical: String,
}

/// Serves referenced files by their import path.
struct References(HashMap<String, File>);

impl FileResolver for References {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// A schema text as a file: a base64 `FileDescriptorProto`, or `.proto` source.
fn file(name: &str, text: &str) -> Result<File, String> {
    let text = text.trim();
    if let Ok(bytes) = STANDARD.decode(text)
        && let Ok(fd) = prost_types::FileDescriptorProto::decode(bytes.as_slice())
        && (!fd.message_type.is_empty() || !fd.enum_type.is_empty() || fd.name.is_some())
    {
        return Ok(File::from_file_descriptor_proto(fd));
    }
    File::from_source(name, text).map_err(|e| e.to_string())
}

impl ProtoSchema {
    /// Compiles `text`; `references` are (import path, text) of the files it imports.
    pub fn parse(text: &str, references: &[(&str, &str)]) -> Result<Self, String> {
        let mut files = HashMap::new();
        for (name, t) in references {
            files.insert((*name).to_owned(), file(name, t)?);
        }
        let main_file = file(MAIN, text)?;
        let main = main_file
            .file_descriptor_proto()
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| MAIN.to_owned());
        files.insert(main.clone(), main_file);
        let mut chain = ChainFileResolver::new();
        chain.add(References(files));
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.include_imports(true);
        compiler.open_file(&main).map_err(|e| e.to_string())?;
        Ok(Self {
            pool: compiler.descriptor_pool(),
            main,
            canonical: text.trim().to_owned(),
        })
    }

    /// The schema as registered (trimmed), or, with `normalize`, its compiled descriptor.
    pub fn canonical(&self, normalize: bool) -> String {
        if normalize {
            self.serialized()
        } else {
            self.canonical.clone()
        }
    }

    /// The compiled `FileDescriptorProto`, base64 (`format=serialized`).
    pub fn serialized(&self) -> String {
        self.pool
            .get_file_by_name(&self.main)
            .map(|f| STANDARD.encode(f.file_descriptor_proto().encode_to_vec()))
            .unwrap_or_default()
    }

    /// The messages the file declares, nested ones included.
    fn messages(&self) -> Vec<MessageDescriptor> {
        self.pool
            .all_messages()
            .filter(|m| m.parent_file().name() == self.main)
            .collect()
    }

    /// The message at a Confluent message-index path (`[0]`: the first top-level message).
    fn message_at(&self, path: &[i64]) -> Option<MessageDescriptor> {
        let file = self.pool.get_file_by_name(&self.main)?;
        let (&first, rest) = path.split_first()?;
        let mut m = file.messages().nth(usize::try_from(first).ok()?)?;
        for &i in rest {
            let child = m.child_messages().nth(usize::try_from(i).ok()?)?;
            m = child;
        }
        Some(m)
    }

    /// Decodes one record's payload after the schema id: the message-index list, then the
    /// message.
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        let (path, rest) = message_indexes(payload)?;
        let m = self
            .message_at(&path)
            .ok_or_else(|| format!("message index {path:?} names no message of the schema"))?;
        DynamicMessage::decode(m.clone(), rest)
            .map(|_| ())
            .map_err(|e| format!("not a {} message: {e}", m.full_name()))
    }

    /// Why data written with `writer` may not read as `self`, one message per problem.
    pub fn cannot_read(&self, writer: &ProtoSchema) -> Vec<String> {
        let mut out = Vec::new();
        let mine: HashMap<String, MessageDescriptor> = self
            .messages()
            .into_iter()
            .map(|m| (m.full_name().to_owned(), m))
            .collect();
        for wm in writer.messages() {
            let Some(rm) = mine.get(wm.full_name()) else {
                out.push(format!("message {} removed", wm.full_name()));
                continue;
            };
            for wf in wm.fields() {
                let Some(rf) = rm.get_field(wf.number()) else {
                    continue;
                };
                let (wk, rk) = (kind_name(&wf.kind()), kind_name(&rf.kind()));
                if wire_group(&wf.kind()) != wire_group(&rf.kind()) || wf.is_map() != rf.is_map() {
                    out.push(format!(
                        "{}.{} (field {}): type changed from {wk} to {rk}",
                        wm.full_name(),
                        wf.name(),
                        wf.number()
                    ));
                }
            }
        }
        out
    }
}

/// Reads the message-index list (zigzag varints: a count, then the indexes; a lone 0 means
/// `[0]`) and returns it with the rest of the payload.
fn message_indexes(payload: &[u8]) -> Result<(Vec<i64>, &[u8]), String> {
    let mut rest = payload;
    let count = zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(1..=100).contains(&count) {
        return Err(format!("message index count {count} is out of range"));
    }
    let mut path = Vec::new();
    for _ in 0..count {
        path.push(zigzag(&mut rest)?);
    }
    Ok((path, rest))
}

fn zigzag(buf: &mut &[u8]) -> Result<i64, String> {
    let v = prost::encoding::decode_varint(buf)
        .map_err(|_| "the message-index list is cut short".to_owned())?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

/// Field kinds a reader can take for one another on the wire.
fn wire_group(k: &Kind) -> String {
    match k {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool | Kind::Enum(_) => {
            "varint".into()
        }
        Kind::Sint32 | Kind::Sint64 => "zigzag".into(),
        Kind::Fixed32 | Kind::Sfixed32 => "fixed32".into(),
        Kind::Fixed64 | Kind::Sfixed64 => "fixed64".into(),
        Kind::String | Kind::Bytes => "bytes".into(),
        Kind::Float => "float".into(),
        Kind::Double => "double".into(),
        Kind::Message(m) => format!("message {}", m.full_name()),
    }
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Message(m) => m.full_name().to_owned(),
        Kind::Enum(e) => e.full_name().to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"syntax = "proto3"; package shop;
        message Order { string id = 1; int64 amount = 2; message Line { string sku = 1; } }"#;

    fn parse(text: &str) -> ProtoSchema {
        match ProtoSchema::parse(text, &[]) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn text_and_descriptor_decode_the_same_records() {
        let text = parse(ORDER);
        let from_descriptor = parse(&text.serialized());
        // Order{id: "a", amount: 5}: field 1 (len) "a", field 2 (varint) 5; index list [0].
        let record = [0u8, 0x0a, 0x01, b'a', 0x10, 0x05];
        assert!(text.check(&record).is_ok());
        assert!(from_descriptor.check(&record).is_ok());
        assert!(text.check(&[0u8, 0x0a, 0x09, b'a']).is_err());
        // [0, 0] is Order.Line.
        assert!(text.check(&[4u8, 0, 0, 0x0a, 0x01, b'x']).is_ok());
        assert!(text.check(&[2u8, 6, 0x0a]).is_err());
    }

    #[test]
    fn type_change_is_named() {
        let old = parse(ORDER);
        let new = parse(
            r#"syntax = "proto3"; package shop;
            message Order { string id = 1; string amount = 2; message Line { string sku = 1; } }"#,
        );
        let m = new.cannot_read(&old);
        assert_eq!(
            m,
            vec!["shop.Order.amount (field 2): type changed from int64 to string".to_owned()]
        );
    }
}
