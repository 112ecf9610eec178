//! A reader for GVDB files: dconf databases (`~/.config/dconf/user`, `/etc/dconf/db/NAME`) and
//! GSettings' `gschemas.compiled`, with the GVariant values they hold.
//!
//! Written here rather than taken from the `gvdb` crate because probes need only lookups and a
//! handful of value types, the crate pulls `zvariant` (two dozen crates, now deprecated in favour
//! of zbus), and a parser of files any user can write must never panic: every offset, length,
//! alignment and nesting depth below is checked, and the property tests feed it arbitrary bytes.
//!
//! The format (GLib `gvdb-format.h`): a 24-byte header (`GVariant` signature, version, options,
//! pointer to the root table), hash tables of 24-byte items (hash, parent, key, type, value
//! pointer) whose keys are stored as suffixes of their parent's key, values serialised as
//! GVariant type `v`. Only little-endian files are read (every Linux laptop architecture); a
//! byte-swapped file is reported as such.

use std::fmt;

/// Why a GVDB file or one of its values could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GvdbError {
    /// The file does not start with the GVDB signature (not a GVDB file, or a dconf database
    /// that `dconf update` has just invalidated).
    #[error("not a GVDB file (no \"GVariant\" signature)")]
    NotGvdb,
    /// A big-endian (byte-swapped) file, which this reader does not decode.
    #[error("byte-swapped GVDB file (big-endian), not supported")]
    ByteSwapped,
    /// A pointer or length points outside the file, or a structure is malformed.
    #[error("corrupt GVDB file: {0}")]
    Corrupt(&'static str),
    /// A value is not valid serialised GVariant data.
    #[error("invalid GVariant value: {0}")]
    BadValue(&'static str),
}

/// A decoded GVariant value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `y`
    Byte(u8),
    /// `n`
    I16(i16),
    /// `q`
    U16(u16),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `h`
    Handle(i32),
    /// `d`
    Double(f64),
    /// `s`, `o` or `g`: the type letter and the text.
    Str(char, String),
    /// `v`: a value with its own type.
    Variant(Box<Variant>),
    /// `mT`: the element type and the value, if any.
    Maybe(String, Option<Box<Value>>),
    /// `aT`: the element type and the elements.
    Array(String, Vec<Value>),
    /// `(...)`: the members.
    Tuple(Vec<Value>),
    /// `{KV}`: key and value.
    DictEntry(Box<Value>, Box<Value>),
}

/// A value with its GVariant type string: what a GVDB `v` item holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The type string, such as `u`, `b` or `(u(ya{sv}))`.
    pub type_string: String,
    /// The value.
    pub value: Value,
}

impl Value {
    /// The GVariant type string of this value.
    #[must_use]
    pub fn type_string(&self) -> String {
        match self {
            Self::Bool(_) => "b".into(),
            Self::Byte(_) => "y".into(),
            Self::I16(_) => "n".into(),
            Self::U16(_) => "q".into(),
            Self::I32(_) => "i".into(),
            Self::U32(_) => "u".into(),
            Self::I64(_) => "x".into(),
            Self::U64(_) => "t".into(),
            Self::Handle(_) => "h".into(),
            Self::Double(_) => "d".into(),
            Self::Str(c, _) => c.to_string(),
            Self::Variant(_) => "v".into(),
            Self::Maybe(t, _) => format!("m{t}"),
            Self::Array(t, _) => format!("a{t}"),
            Self::Tuple(m) => {
                let inner: String = m.iter().map(Self::type_string).collect();
                format!("({inner})")
            }
            Self::DictEntry(k, v) => format!("{{{}{}}}", k.type_string(), v.type_string()),
        }
    }
}

/// GVariant text format, with the type annotation GLib prints for non-default types
/// (`uint32 300`, `true`, `int32 60`, `'text'`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Byte(v) => write!(f, "byte 0x{v:02x}"),
            Self::I16(v) => write!(f, "int16 {v}"),
            Self::U16(v) => write!(f, "uint16 {v}"),
            Self::I32(v) => write!(f, "int32 {v}"),
            Self::U32(v) => write!(f, "uint32 {v}"),
            Self::I64(v) => write!(f, "int64 {v}"),
            Self::U64(v) => write!(f, "uint64 {v}"),
            Self::Handle(v) => write!(f, "handle {v}"),
            Self::Double(v) => write!(f, "{v:?}"),
            Self::Str(_, s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Self::Variant(v) => write!(f, "<{}>", v.value),
            Self::Maybe(_, None) => write!(f, "nothing"),
            Self::Maybe(_, Some(v)) => write!(f, "just {v}"),
            Self::Array(_, items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Self::Tuple(items) => {
                write!(f, "(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if items.len() == 1 {
                    write!(f, ",")?;
                }
                write!(f, ")")
            }
            Self::DictEntry(k, v) => write!(f, "{{{k}: {v}}}"),
        }
    }
}

const SIGNATURE: &[u8; 8] = b"GVariant";
const SIGNATURE_SWAPPED: &[u8; 8] = b"raVGtnai";
const HEADER_SIZE: usize = 24;
const ITEM_SIZE: usize = 24;
/// How many parents a key may have; more means a cycle in a corrupt file.
const MAX_KEY_DEPTH: usize = 64;
/// How deeply GVariant types and nested variants may nest (GLib allows 128; dconf and schema
/// values need 4).
const MAX_VALUE_DEPTH: usize = 64;

/// A GVDB file held in memory.
#[derive(Debug, Clone, Copy)]
pub struct Gvdb<'a> {
    data: &'a [u8],
}

impl<'a> Gvdb<'a> {
    /// Checks the header of a GVDB file.
    pub fn new(data: &'a [u8]) -> Result<Self, GvdbError> {
        let signature = data.get(..8).ok_or(GvdbError::NotGvdb)?;
        if signature == SIGNATURE_SWAPPED {
            return Err(GvdbError::ByteSwapped);
        }
        if signature != SIGNATURE || data.len() < HEADER_SIZE {
            return Err(GvdbError::NotGvdb);
        }
        Ok(Self { data })
    }

    /// The root hash table.
    pub fn root(&self) -> Result<Table<'a>, GvdbError> {
        let start = read_u32(self.data, 16).ok_or(GvdbError::Corrupt("header"))?;
        let end = read_u32(self.data, 20).ok_or(GvdbError::Corrupt("header"))?;
        Table::at(self.data, start, end)
    }
}

/// One hash table of a GVDB file.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    file: &'a [u8],
    buckets: &'a [u8],
    items: &'a [u8],
}

/// What a key names in a table.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A value.
    Value(Variant),
    /// A nested hash table (dconf `.locks`, a schema in `gschemas.compiled`).
    Table(Table<'a>),
    /// A directory listing (`L` items in dconf databases), not decoded.
    List,
}

impl<'a> Table<'a> {
    fn at(file: &'a [u8], start: u32, end: u32) -> Result<Self, GvdbError> {
        let (start, end) = (start as usize, end as usize);
        if start > end || !start.is_multiple_of(4) {
            return Err(GvdbError::Corrupt("hash table pointer"));
        }
        let body = file
            .get(start..end)
            .ok_or(GvdbError::Corrupt("hash table outside the file"))?;
        let bloom_header = read_u32(body, 0).ok_or(GvdbError::Corrupt("hash table header"))?;
        let n_buckets = read_u32(body, 4).ok_or(GvdbError::Corrupt("hash table header"))? as usize;
        let n_bloom = (bloom_header & ((1 << 27) - 1)) as usize;
        let buckets_start = n_bloom
            .checked_mul(4)
            .and_then(|b| b.checked_add(8))
            .ok_or(GvdbError::Corrupt("bloom filter size"))?;
        let items_start = n_buckets
            .checked_mul(4)
            .and_then(|b| b.checked_add(buckets_start))
            .ok_or(GvdbError::Corrupt("bucket count"))?;
        let buckets = body
            .get(buckets_start..items_start)
            .ok_or(GvdbError::Corrupt("buckets outside the table"))?;
        let items_all = body
            .get(items_start..)
            .ok_or(GvdbError::Corrupt("items outside the table"))?;
        let n_items = items_all.len() / ITEM_SIZE;
        let items = items_all
            .get(..n_items * ITEM_SIZE)
            .ok_or(GvdbError::Corrupt("items"))?;
        Ok(Self {
            file,
            buckets,
            items,
        })
    }

    fn n_items(&self) -> usize {
        self.items.len() / ITEM_SIZE
    }

    fn item(&self, index: usize) -> Option<&'a [u8]> {
        let start = index.checked_mul(ITEM_SIZE)?;
        self.items.get(start..start.checked_add(ITEM_SIZE)?)
    }

    /// The full key of item `index`: its parents' keys followed by its own suffix.
    fn full_key(&self, index: usize) -> Option<Vec<u8>> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut current = index;
        for _ in 0..MAX_KEY_DEPTH {
            let item = self.item(current)?;
            let key_start = read_u32(item, 8)? as usize;
            let key_size = usize::from(read_u16(item, 12)?);
            parts.push(self.file.get(key_start..key_start.checked_add(key_size)?)?);
            let parent = read_u32(item, 4)?;
            if parent == u32::MAX {
                let mut key = Vec::new();
                for p in parts.iter().rev() {
                    key.extend_from_slice(p);
                }
                return Some(key);
            }
            current = parent as usize;
        }
        None
    }

    /// The index of the item named `key`, found through the hash buckets as GLib does.
    fn find(&self, key: &str) -> Option<usize> {
        let n_buckets = self.buckets.len() / 4;
        if n_buckets == 0 {
            return None;
        }
        let hash = djb_hash(key.as_bytes());
        let bucket = (hash as usize) % n_buckets;
        let first = read_u32(self.buckets, bucket * 4)? as usize;
        let last = if bucket + 1 < n_buckets {
            read_u32(self.buckets, (bucket + 1) * 4)? as usize
        } else {
            self.n_items()
        };
        let last = last.min(self.n_items());
        (first..last).find(|&i| {
            self.item(i)
                .and_then(|item| read_u32(item, 0))
                .is_some_and(|h| h == hash)
                && self.full_key(i).as_deref() == Some(key.as_bytes())
        })
    }

    /// What `key` names in this table, or `None` when the table does not have it.
    pub fn get(&self, key: &str) -> Result<Option<Item<'a>>, GvdbError> {
        let Some(index) = self.find(key) else {
            return Ok(None);
        };
        let item = self.item(index).ok_or(GvdbError::Corrupt("item"))?;
        let kind = item[14];
        let start = read_u32(item, 16).ok_or(GvdbError::Corrupt("item"))?;
        let end = read_u32(item, 20).ok_or(GvdbError::Corrupt("item"))?;
        match kind {
            b'v' => {
                let bytes = self
                    .file
                    .get(start as usize..end as usize)
                    .ok_or(GvdbError::Corrupt("value outside the file"))?;
                decode_variant(bytes, 0).map(|v| Some(Item::Value(v)))
            }
            b'H' => Table::at(self.file, start, end).map(|t| Some(Item::Table(t))),
            b'L' => Ok(Some(Item::List)),
            _ => Err(GvdbError::Corrupt("unknown item type")),
        }
    }

    /// The value stored under `key`; `None` when absent or not a value.
    pub fn value(&self, key: &str) -> Result<Option<Variant>, GvdbError> {
        Ok(match self.get(key)? {
            Some(Item::Value(v)) => Some(v),
            _ => None,
        })
    }

    /// The nested table stored under `key`; `None` when absent or not a table.
    pub fn table(&self, key: &str) -> Result<Option<Table<'a>>, GvdbError> {
        Ok(match self.get(key)? {
            Some(Item::Table(t)) => Some(t),
            _ => None,
        })
    }

    /// Every full key in the table (items whose key cannot be read are left out).
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        (0..self.n_items())
            .filter_map(|i| self.full_key(i))
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    }
}

/// GLib's djb2 string hash over signed chars (identical to unsigned for ASCII keys).
fn djb_hash(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &b| {
        #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
        let c = i32::from(b as i8) as u32;
        h.wrapping_mul(33).wrapping_add(c)
    })
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// A GVariant type.
#[derive(Debug, Clone, PartialEq)]
enum Type {
    Basic(char),
    Variant,
    Maybe(Box<Type>),
    Array(Box<Type>),
    Tuple(Vec<Type>),
    DictEntry(Box<Type>, Box<Type>),
}

impl Type {
    /// Parses one complete type string.
    fn parse(text: &str) -> Result<Self, GvdbError> {
        let bytes = text.as_bytes();
        let (ty, used) = Self::parse_at(bytes, 0, 0)?;
        if used != bytes.len() {
            return Err(GvdbError::BadValue("trailing characters after the type"));
        }
        Ok(ty)
    }

    fn parse_at(b: &[u8], at: usize, depth: usize) -> Result<(Self, usize), GvdbError> {
        if depth > MAX_VALUE_DEPTH {
            return Err(GvdbError::BadValue("type nests too deeply"));
        }
        let c = *b.get(at).ok_or(GvdbError::BadValue("truncated type"))?;
        match c {
            b'b' | b'y' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'h' | b'd' | b's' | b'o'
            | b'g' => Ok((Self::Basic(char::from(c)), at + 1)),
            b'v' => Ok((Self::Variant, at + 1)),
            b'm' => {
                let (t, next) = Self::parse_at(b, at + 1, depth + 1)?;
                Ok((Self::Maybe(Box::new(t)), next))
            }
            b'a' => {
                let (t, next) = Self::parse_at(b, at + 1, depth + 1)?;
                Ok((Self::Array(Box::new(t)), next))
            }
            b'(' => {
                let mut members = Vec::new();
                let mut pos = at + 1;
                loop {
                    match b.get(pos) {
                        Some(b')') => return Ok((Self::Tuple(members), pos + 1)),
                        Some(_) => {
                            let (t, next) = Self::parse_at(b, pos, depth + 1)?;
                            members.push(t);
                            pos = next;
                        }
                        None => return Err(GvdbError::BadValue("unclosed tuple type")),
                    }
                }
            }
            b'{' => {
                let (k, next) = Self::parse_at(b, at + 1, depth + 1)?;
                if !matches!(k, Self::Basic(_)) {
                    return Err(GvdbError::BadValue("dictionary key is not a basic type"));
                }
                let (v, next) = Self::parse_at(b, next, depth + 1)?;
                if b.get(next) != Some(&b'}') {
                    return Err(GvdbError::BadValue("unclosed dictionary entry type"));
                }
                Ok((Self::DictEntry(Box::new(k), Box::new(v)), next + 1))
            }
            _ => Err(GvdbError::BadValue("unknown type character")),
        }
    }

    fn to_type_string(&self) -> String {
        match self {
            Self::Basic(c) => c.to_string(),
            Self::Variant => "v".into(),
            Self::Maybe(t) => format!("m{}", t.to_type_string()),
            Self::Array(t) => format!("a{}", t.to_type_string()),
            Self::Tuple(m) => format!(
                "({})",
                m.iter().map(Self::to_type_string).collect::<String>()
            ),
            Self::DictEntry(k, v) => format!("{{{}{}}}", k.to_type_string(), v.to_type_string()),
        }
    }

    fn alignment(&self) -> usize {
        match self {
            Self::Basic('n' | 'q') => 2,
            Self::Basic('i' | 'u' | 'h') => 4,
            Self::Basic('x' | 't' | 'd') | Self::Variant => 8,
            Self::Basic(_) => 1,
            Self::Maybe(t) | Self::Array(t) => t.alignment(),
            Self::Tuple(m) => m.iter().map(Self::alignment).max().unwrap_or(1),
            Self::DictEntry(k, v) => k.alignment().max(v.alignment()),
        }
    }

    fn fixed_size(&self) -> Option<usize> {
        match self {
            Self::Basic('b' | 'y') => Some(1),
            Self::Basic('n' | 'q') => Some(2),
            Self::Basic('i' | 'u' | 'h') => Some(4),
            Self::Basic('x' | 't' | 'd') => Some(8),
            Self::Basic(_) | Self::Variant | Self::Maybe(_) | Self::Array(_) => None,
            Self::Tuple(m) => fixed_size_of(m.iter(), self.alignment()),
            Self::DictEntry(k, v) => fixed_size_of([&**k, &**v].into_iter(), self.alignment()),
        }
    }
}

fn fixed_size_of<'t>(members: impl Iterator<Item = &'t Type>, alignment: usize) -> Option<usize> {
    let mut size = 0usize;
    for m in members {
        size = align(size, m.alignment()).checked_add(m.fixed_size()?)?;
    }
    let size = align(size, alignment);
    // The unit tuple is one byte.
    Some(size.max(1))
}

fn align(offset: usize, alignment: usize) -> usize {
    let a = alignment.max(1);
    offset.div_ceil(a).saturating_mul(a)
}

fn offset_size(container: usize) -> usize {
    match container {
        0 => 0,
        1..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

fn read_offset(data: &[u8], at: usize, size: usize) -> Option<usize> {
    let bytes = data.get(at..at.checked_add(size)?)?;
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        value |= u64::from(*b) << (8 * i);
    }
    usize::try_from(value).ok()
}

/// Decodes the serialised form of a `v`: the child's bytes, a NUL, the child's type string.
fn decode_variant(bytes: &[u8], depth: usize) -> Result<Variant, GvdbError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(GvdbError::BadValue("variants nest too deeply"));
    }
    let nul = bytes
        .iter()
        .rposition(|&b| b == 0)
        .ok_or(GvdbError::BadValue("variant without a type"))?;
    let type_string = std::str::from_utf8(&bytes[nul + 1..])
        .map_err(|_| GvdbError::BadValue("variant type is not text"))?;
    let ty = Type::parse(type_string)?;
    let value = decode(&ty, &bytes[..nul], depth + 1)?;
    Ok(Variant {
        type_string: type_string.to_owned(),
        value,
    })
}

fn decode(ty: &Type, b: &[u8], depth: usize) -> Result<Value, GvdbError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(GvdbError::BadValue("value nests too deeply"));
    }
    if let Some(size) = ty.fixed_size()
        && b.len() != size
    {
        return Err(GvdbError::BadValue("fixed-size value of the wrong length"));
    }
    let bad = GvdbError::BadValue("truncated value");
    Ok(match ty {
        Type::Basic('b') => Value::Bool(b[0] != 0),
        Type::Basic('y') => Value::Byte(b[0]),
        Type::Basic('n') => Value::I16(i16::from_le_bytes([b[0], b[1]])),
        Type::Basic('q') => Value::U16(u16::from_le_bytes([b[0], b[1]])),
        Type::Basic('i') => Value::I32(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        Type::Basic('u') => Value::U32(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        Type::Basic('h') => Value::Handle(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        Type::Basic('x' | 't' | 'd') => {
            let arr: [u8; 8] = b.try_into().map_err(|_| bad)?;
            match ty {
                Type::Basic('x') => Value::I64(i64::from_le_bytes(arr)),
                Type::Basic('t') => Value::U64(u64::from_le_bytes(arr)),
                _ => Value::Double(f64::from_le_bytes(arr)),
            }
        }
        Type::Basic(c) => {
            let (last, text) = b
                .split_last()
                .ok_or(GvdbError::BadValue("string without its NUL"))?;
            if *last != 0 || text.contains(&0) {
                return Err(GvdbError::BadValue("string not NUL-terminated"));
            }
            let text =
                std::str::from_utf8(text).map_err(|_| GvdbError::BadValue("string not UTF-8"))?;
            Value::Str(*c, text.to_owned())
        }
        Type::Variant => Value::Variant(Box::new(decode_variant(b, depth + 1)?)),
        Type::Maybe(t) => {
            let inner = if b.is_empty() {
                None
            } else if t.fixed_size().is_some() {
                Some(Box::new(decode(t, b, depth + 1)?))
            } else {
                let (last, body) = b.split_last().ok_or(bad)?;
                if *last != 0 {
                    return Err(GvdbError::BadValue("maybe without its trailing NUL"));
                }
                Some(Box::new(decode(t, body, depth + 1)?))
            };
            Value::Maybe(t.to_type_string(), inner)
        }
        Type::Array(t) => Value::Array(t.to_type_string(), decode_array(t, b, depth)?),
        Type::Tuple(members) => Value::Tuple(decode_members(members, b, depth)?),
        Type::DictEntry(k, v) => {
            let pair = [(**k).clone(), (**v).clone()];
            let mut decoded = decode_members(&pair, b, depth)?.into_iter();
            match (decoded.next(), decoded.next()) {
                (Some(k), Some(v)) => Value::DictEntry(Box::new(k), Box::new(v)),
                _ => return Err(bad),
            }
        }
    })
}

fn decode_array(elem: &Type, b: &[u8], depth: usize) -> Result<Vec<Value>, GvdbError> {
    if b.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(size) = elem.fixed_size() {
        if !b.len().is_multiple_of(size) {
            return Err(GvdbError::BadValue(
                "array length not a multiple of its element",
            ));
        }
        return b
            .chunks_exact(size)
            .map(|c| decode(elem, c, depth + 1))
            .collect();
    }
    let osz = offset_size(b.len());
    let last_end =
        read_offset(b, b.len() - osz, osz).ok_or(GvdbError::BadValue("array offsets"))?;
    if last_end > b.len() || !(b.len() - last_end).is_multiple_of(osz) {
        return Err(GvdbError::BadValue("array offsets"));
    }
    let n = (b.len() - last_end) / osz;
    let mut out = Vec::with_capacity(n);
    let mut prev_end = 0usize;
    for i in 0..n {
        let end =
            read_offset(b, last_end + i * osz, osz).ok_or(GvdbError::BadValue("array offsets"))?;
        let start = align(prev_end, elem.alignment());
        if start > end || end > last_end {
            return Err(GvdbError::BadValue("array element outside the array"));
        }
        out.push(decode(elem, &b[start..end], depth + 1)?);
        prev_end = end;
    }
    Ok(out)
}

fn decode_members(members: &[Type], b: &[u8], depth: usize) -> Result<Vec<Value>, GvdbError> {
    if members.is_empty() {
        // The unit tuple; its one byte was checked as its fixed size.
        return Ok(Vec::new());
    }
    let osz = offset_size(b.len());
    let mut offsets_end = b.len();
    let mut pos = 0usize;
    let mut out = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let start = align(pos, m.alignment());
        let end = match m.fixed_size() {
            Some(size) => start
                .checked_add(size)
                .ok_or(GvdbError::BadValue("member"))?,
            None if i + 1 == members.len() => offsets_end,
            None => {
                offsets_end = offsets_end
                    .checked_sub(osz)
                    .ok_or(GvdbError::BadValue("tuple offsets"))?;
                read_offset(b, offsets_end, osz).ok_or(GvdbError::BadValue("tuple offsets"))?
            }
        };
        if start > end || end > offsets_end {
            return Err(GvdbError::BadValue("tuple member outside the tuple"));
        }
        out.push(decode(m, &b[start..end], depth + 1)?);
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a GVDB file with one root table holding `(key, parent, item type, value bytes)`,
    /// each key in its own bucket order, as GLib's builder lays it out.
    fn build(items: &[(&str, u32, u8, Vec<u8>)], full_keys: &[&str]) -> Vec<u8> {
        let n_buckets = 1u32;
        let mut table = Vec::new();
        table.extend_from_slice(&0u32.to_le_bytes()); // no bloom words
        table.extend_from_slice(&n_buckets.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes()); // bucket 0 starts at item 0
        let table_start = HEADER_SIZE as u32;
        let items_len = (items.len() * ITEM_SIZE) as u32;
        let table_end = table_start + table.len() as u32 + items_len;
        let mut blobs = Vec::new();
        let mut next = table_end;
        for ((key, parent, kind, value), full) in items.iter().zip(full_keys) {
            let key_start = next;
            blobs.extend_from_slice(key.as_bytes());
            next += key.len() as u32;
            while !next.is_multiple_of(8) {
                blobs.push(0);
                next += 1;
            }
            let value_start = next;
            blobs.extend_from_slice(value);
            next += value.len() as u32;
            while !next.is_multiple_of(8) {
                blobs.push(0);
                next += 1;
            }
            table.extend_from_slice(&djb_hash(full.as_bytes()).to_le_bytes());
            table.extend_from_slice(&parent.to_le_bytes());
            table.extend_from_slice(&key_start.to_le_bytes());
            table.extend_from_slice(&(key.len() as u16).to_le_bytes());
            table.push(*kind);
            table.push(0);
            table.extend_from_slice(&value_start.to_le_bytes());
            table.extend_from_slice(&(value_start + value.len() as u32).to_le_bytes());
        }
        let mut file = Vec::new();
        file.extend_from_slice(SIGNATURE);
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&table_start.to_le_bytes());
        file.extend_from_slice(&table_end.to_le_bytes());
        file.extend_from_slice(&table);
        file.extend_from_slice(&blobs);
        file
    }

    #[test]
    fn a_key_stored_as_a_suffix_of_its_parent_is_found_by_its_full_name() {
        let mut u32_300 = 300u32.to_le_bytes().to_vec();
        u32_300.extend_from_slice(b"\0u");
        let file = build(
            &[
                ("/org/gnome/desktop/session/", u32::MAX, b'L', Vec::new()),
                ("idle-delay", 0, b'v', u32_300),
            ],
            &[
                "/org/gnome/desktop/session/",
                "/org/gnome/desktop/session/idle-delay",
            ],
        );
        let db = Gvdb::new(&file).unwrap();
        let root = db.root().unwrap();
        let v = root
            .value("/org/gnome/desktop/session/idle-delay")
            .unwrap()
            .unwrap();
        assert_eq!(v.type_string, "u");
        assert_eq!(v.value, Value::U32(300));
        assert_eq!(v.value.to_string(), "uint32 300");
        assert!(root.value("idle-delay").unwrap().is_none());
        assert!(
            root.keys()
                .contains(&"/org/gnome/desktop/session/idle-delay".to_owned())
        );
    }

    #[test]
    fn a_schema_entry_tuple_with_per_desktop_defaults_decodes() {
        // (u(ya{sv})) = (420, ('d', {'Vendor': <uint32 120>})) serialised by GLib rules.
        let dict_entry = {
            // {sv}: "Vendor\0", pad to 8, variant bytes, then the key's end offset.
            let mut e = b"Vendor\0".to_vec();
            e.push(0); // pad to 8
            e.extend_from_slice(&120u32.to_le_bytes());
            e.extend_from_slice(b"\0u");
            e.push(7); // key ends at 7
            e
        };
        let array = {
            let mut a = dict_entry.clone();
            a.push(dict_entry.len() as u8);
            a
        };
        let mut inner = vec![b'd'];
        inner.extend_from_slice(&[0; 7]); // align a{sv} to 8
        inner.extend_from_slice(&array);
        let mut tuple = 420u32.to_le_bytes().to_vec();
        tuple.extend_from_slice(&[0; 4]); // align the inner tuple to 8
        tuple.extend_from_slice(&inner);
        let ty = Type::parse("(u(ya{sv}))").unwrap();
        let v = decode(&ty, &tuple, 0).unwrap();
        let Value::Tuple(m) = v else { panic!() };
        assert_eq!(m[0], Value::U32(420));
        assert_eq!(m[1].type_string(), "(ya{sv})");
        let Value::Tuple(extra) = &m[1] else { panic!() };
        assert_eq!(extra[0], Value::Byte(b'd'));
        let Value::Array(_, entries) = &extra[1] else {
            panic!()
        };
        let Value::DictEntry(k, v) = &entries[0] else {
            panic!()
        };
        assert_eq!(**k, Value::Str('s', "Vendor".into()));
        assert_eq!(v.to_string(), "<uint32 120>");
    }

    #[test]
    fn an_invalidated_dconf_database_is_not_gvdb() {
        let mut file = build(&[], &[]);
        file[..8].fill(0);
        assert_eq!(Gvdb::new(&file).unwrap_err(), GvdbError::NotGvdb);
        assert_eq!(
            Gvdb::new(b"raVGtnai\0\0\0\0").unwrap_err(),
            GvdbError::ByteSwapped
        );
    }

    #[test]
    fn deeply_nested_types_are_refused_not_overflowed() {
        let deep = format!("{}u{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Type::parse(&deep).is_err());
        let mut nested = Vec::new();
        for _ in 0..10_000 {
            nested.extend_from_slice(b"\0v");
        }
        assert!(decode_variant(&nested, 0).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(db) = Gvdb::new(&data)
                && let Ok(root) = db.root()
            {
                for key in root.keys() {
                    let _ = root.get(&key);
                }
                let _ = root.get("/org/gnome/desktop/session/idle-delay");
            }
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_header_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            start in 0u32..64,
            len in 0u32..600,
        ) {
            let mut data = SIGNATURE.to_vec();
            data.extend_from_slice(&[0; 8]);
            data.extend_from_slice(&(start * 4).to_le_bytes());
            data.extend_from_slice(&(start * 4 + len).to_le_bytes());
            data.extend_from_slice(&body);
            if let Ok(root) = Gvdb::new(&data).and_then(|db| db.root()) {
                for key in root.keys() {
                    if let Ok(Some(Item::Table(t))) = root.get(&key) {
                        for k in t.keys() {
                            let _ = t.get(&k);
                        }
                    }
                }
            }
        }

        #[test]
        fn arbitrary_values_and_types_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..256),
            ty in "[bynqiuxthdsogvma(){}]{1,12}",
        ) {
            let _ = decode_variant(&data, 0);
            if let Ok(t) = Type::parse(&ty) {
                let _ = decode(&t, &data, 0);
            }
        }
    }
}
