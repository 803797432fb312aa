//! Checking that bytes are one datum of an Avro schema without decoding them into values:
//! the produce path checks every record, and building a value tree per record (what
//! `apache-avro`'s reader does) costs allocations per field and lets a length read off the
//! wire size an allocation. This walk allocates nothing per record and names the field at
//! fault.

use apache_avro::schema::{InnerDecimalSchema, Name, Schema, UuidSchema};
use std::collections::HashMap;

/// Deepest nesting followed (records in records, arrays of arrays).
const MAX_DEPTH: usize = 64;
/// Most array or map items walked in one datum (items of `null` take no bytes).
const MAX_ITEMS: u64 = 1 << 20;

/// Named types by full name, for `Ref`s.
pub type Names = HashMap<Name, Schema>;

/// Collects the named types of `schema` into `names`.
pub fn collect_names(schema: &Schema, names: &mut Names) {
    match schema {
        Schema::Record(r) => {
            names.insert(r.name.clone(), schema.clone());
            for f in &r.fields {
                collect_names(&f.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.clone(), schema.clone());
        }
        Schema::Fixed(f) => {
            names.insert(f.name.clone(), schema.clone());
        }
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, names);
            }
        }
        _ => {}
    }
}

/// A walk over one datum.
pub struct Walk<'a> {
    names: &'a Names,
    buf: &'a [u8],
    items: u64,
    /// Field names from the root to where the walk is.
    path: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    /// A walk over `buf`.
    pub fn new(names: &'a Names, buf: &'a [u8]) -> Self {
        Self {
            names,
            buf,
            items: 0,
            path: Vec::new(),
        }
    }

    /// Checks that `buf` holds exactly one datum of `schema`.
    pub fn whole(mut self, schema: &'a Schema) -> Result<(), String> {
        self.datum(schema, 0)?;
        if !self.buf.is_empty() {
            return Err(format!(
                "{} byte(s) left after the Avro datum",
                self.buf.len()
            ));
        }
        Ok(())
    }

    fn fail(&self, what: impl std::fmt::Display) -> String {
        let mut at = String::from("$");
        for p in &self.path {
            at.push('.');
            at.push_str(p);
        }
        format!("{at}: {what}")
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(self.fail(format_args!(
                "{what} needs {n} byte(s), {} left",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn long(&mut self, what: &str) -> Result<i64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(self.fail(format_args!("{what} is cut short")));
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        Err(self.fail(format_args!("{what} is not a valid varint")))
    }

    fn int(&mut self, what: &str) -> Result<i64, String> {
        let v = self.long(what)?;
        if i32::try_from(v).is_err() {
            return Err(self.fail(format_args!("{what} {v} does not fit an int")));
        }
        Ok(v)
    }

    fn len(&mut self, what: &str) -> Result<usize, String> {
        let n = self.long(what)?;
        usize::try_from(n).map_err(|_| self.fail(format_args!("{what}: negative length {n}")))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.len(what)?;
        self.take(n, what)
    }

    fn string(&mut self) -> Result<(), String> {
        let b = self.bytes("a string")?;
        if std::str::from_utf8(b).is_err() {
            return Err(self.fail("a string that is not UTF-8"));
        }
        Ok(())
    }

    /// Walks the blocks of an array or map, calling `item` for each item.
    fn blocks(
        &mut self,
        what: &str,
        depth: usize,
        mut item: impl FnMut(&mut Self, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let mut count = self.long(what)?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                count = count
                    .checked_neg()
                    .ok_or_else(|| self.fail("a bad block count"))?;
                self.long("a block size")?;
            }
            self.items = self.items.saturating_add(count.unsigned_abs());
            if self.items > MAX_ITEMS {
                return Err(self.fail(format_args!("{what} holds over {MAX_ITEMS} items")));
            }
            for _ in 0..count {
                item(self, depth)?;
            }
        }
    }

    fn datum(&mut self, schema: &'a Schema, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.fail(format_args!("nested over {MAX_DEPTH} deep")));
        }
        match schema {
            Schema::Null => {}
            Schema::Boolean => {
                let b = self.take(1, "a boolean")?[0];
                if b > 1 {
                    return Err(self.fail(format_args!("a boolean byte {b} is not 0 or 1")));
                }
            }
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                self.int("an int")?;
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                self.long("a long")?;
            }
            Schema::Float => {
                self.take(4, "a float")?;
            }
            Schema::Double => {
                self.take(8, "a double")?;
            }
            Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => {
                self.bytes("bytes")?;
            }
            Schema::Decimal(d) => match &d.inner {
                InnerDecimalSchema::Bytes => {
                    self.bytes("a decimal")?;
                }
                InnerDecimalSchema::Fixed(f) => {
                    self.take(f.size, "a decimal")?;
                }
            },
            Schema::String | Schema::Uuid(UuidSchema::String) => self.string()?,
            Schema::Fixed(f) | Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => {
                self.take(f.size, "a fixed")?;
            }
            Schema::Enum(e) => {
                let i = self.int("an enum index")?;
                if usize::try_from(i).map_or(true, |i| i >= e.symbols.len()) {
                    return Err(self.fail(format_args!(
                        "enum index {i} is not one of the {} symbols",
                        e.symbols.len()
                    )));
                }
            }
            Schema::Array(a) => self.blocks("an array", depth, |w, d| w.datum(&a.items, d + 1))?,
            Schema::Map(m) => self.blocks("a map", depth, |w, d| {
                w.string()?;
                w.datum(&m.types, d + 1)
            })?,
            Schema::Union(u) => {
                let i = self.long("a union branch")?;
                let variant = usize::try_from(i)
                    .ok()
                    .and_then(|i| u.variants().get(i))
                    .ok_or_else(|| {
                        self.fail(format_args!(
                            "union branch {i} is not one of the {} branches",
                            u.variants().len()
                        ))
                    })?;
                self.datum(variant, depth + 1)?;
            }
            Schema::Record(r) => {
                for f in &r.fields {
                    self.path.push(&f.name);
                    self.datum(&f.schema, depth + 1)?;
                    self.path.pop();
                }
            }
            Schema::Ref { name } => {
                let target = self
                    .names
                    .get(name)
                    .ok_or_else(|| self.fail(format_args!("unknown named type {name:?}")))?;
                self.datum(target, depth + 1)?;
            }
        }
        Ok(())
    }
}
