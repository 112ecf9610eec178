//! How a report body is stored: cut into content-addressed parts, plus one small check-in record.
//!
//! A body is the JSON exactly as the agent sent it. It is cut, byte for byte, into
//!
//! - a *skeleton*: the body with holes where the top-level `report_id`, `generated_at` and
//!   `trigger` values and each element of `checks` were (device, policy, agent, separators);
//! - one part per element of `checks` (a check's verdict, evidence and remediation);
//!
//! Each part is stored once, zstd-compressed, under the SHA-256 of its bytes, whatever report or
//! device it came from. What changes from one report to the next (its id, when it was generated,
//! why it was made) goes into a *check-in record* with the receive time, the collector's posture
//! and the ids of the parts. A report whose checks and inventory equal the previous one's costs
//! only its record (about 50 bytes); gluing the parts back in the holes gives the exact bytes
//! that were posted.
//!
//! Records are appended to one block per device and per UTC day of receipt, so that a year of
//! check-ins every 15 minutes is 365 rows per device, not 35,040, and retention deletes days, not
//! reports. Every record is self-contained (no reference to the one before), so appending needs
//! no read: blocks are extended with SQL concatenation, which is safe with concurrent writers.

use posture_schema::Posture;
use sha2::{Digest as _, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// zstd level for parts: written once, read rarely.
const ZSTD_LEVEL: i32 = 9;

const HOLE_REPORT_ID: u8 = 0;
const HOLE_GENERATED_AT: u8 = 1;
const HOLE_CHECK: u8 = 2;
const HOLE_TRIGGER: u8 = 3;

/// The UTC day number (days since 1970-01-01) of a Unix millisecond time.
#[must_use]
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// A body cut into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// The skeleton, encoded (hole table, then the bytes around the holes).
    pub skeleton: Vec<u8>,
    /// Each element of `checks`, as sent.
    pub checks: Vec<&'a [u8]>,
    /// The `report_id` value as sent (a JSON string token), if it was cut out.
    pub report_id: Option<&'a [u8]>,
    /// The `generated_at` value as sent, if it was cut out.
    pub generated_at: Option<&'a [u8]>,
    /// The `trigger` value as sent, if the report has one.
    pub trigger: Option<&'a [u8]>,
}

impl Split<'_> {
    /// The parts in storage order (skeleton first), each with its kind.
    #[must_use]
    pub fn parts(&self) -> Vec<Part<'_>> {
        let mut parts = Vec::with_capacity(1 + self.checks.len());
        parts.push(Part {
            kind: PartKind::Skeleton,
            bytes: &self.skeleton,
        });
        parts.extend(self.checks.iter().map(|c| Part {
            kind: PartKind::Check,
            bytes: c,
        }));
        parts
    }
}

/// What a stored part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A skeleton.
    Skeleton,
    /// One element of `checks`.
    Check,
}

/// One part to store.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// Its kind.
    pub kind: PartKind,
    /// Its bytes.
    pub bytes: &'a [u8],
}

impl Part<'_> {
    /// The content address: SHA-256 of the kind and the bytes.
    #[must_use]
    pub fn digest(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update([match self.kind {
            PartKind::Skeleton => b's',
            PartKind::Check => b'c',
        }]);
        h.update(self.bytes);
        h.finalize().to_vec()
    }

    /// The check id and status of a check part (what daily roll-ups count), when it has them.
    #[must_use]
    pub fn check_status(&self) -> Option<(String, String)> {
        if self.kind != PartKind::Check {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct Verdict {
            id: String,
            status: String,
        }
        let v: Verdict = serde_json::from_slice(self.bytes).ok()?;
        // PostgreSQL text cannot hold NUL (the part itself keeps the original).
        let column = |s: String| s.replace('\0', "\u{FFFD}");
        Some((column(v.id), column(v.status)))
    }
}

/// Compresses a part.
#[must_use]
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    // Compressing a byte slice in memory cannot fail short of an allocation failure.
    zstd::bulk::compress(bytes, ZSTD_LEVEL).unwrap_or_else(|_| Vec::new())
}

/// Decompresses a part; `None` when the bytes are not a zstd frame.
#[must_use]
pub fn decompress(bytes: &[u8]) -> Option<Vec<u8>> {
    zstd::stream::decode_all(bytes).ok()
}

// --- a minimal JSON scanner: spans of top-level values, never interpretation ---

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string token starting at `i` (a `"`).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The end (exclusive) of the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Spans of the elements of the array starting at `i`.
fn array_elements(b: &[u8], i: usize) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Some(out);
    }
    loop {
        let end = value_end(b, j)?;
        out.push((j, end));
        j = skip_ws(b, end);
        match b.get(j)? {
            b',' => j = skip_ws(b, j + 1),
            b']' => return Some(out),
            _ => return None,
        }
    }
}

/// Cuts a body into parts. `None` when it is not a JSON object (the collector only stores bodies
/// that parsed as reports, so this does not happen; such a body would be stored whole).
#[must_use]
pub fn split(body: &str) -> Option<Split<'_>> {
    let b = body.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    // (start, end, kind) of every hole, in order.
    let mut holes: Vec<(usize, usize, u8)> = Vec::new();
    let mut checks = Vec::new();
    let (mut report_id, mut generated_at, mut trigger) = (None, None, None);
    let mut seen_checks = false;
    i = skip_ws(b, i + 1);
    if b.get(i) != Some(&b'}') {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = string_end(b, i)?;
            let key = &b[i..key_end];
            let colon = skip_ws(b, key_end);
            if b.get(colon) != Some(&b':') {
                return None;
            }
            let v = skip_ws(b, colon + 1);
            let end = value_end(b, v)?;
            let is_string = b[v] == b'"';
            match key {
                b"\"report_id\"" if is_string && report_id.is_none() => {
                    report_id = Some(&b[v..end]);
                    holes.push((v, end, HOLE_REPORT_ID));
                }
                b"\"generated_at\"" if is_string && generated_at.is_none() => {
                    generated_at = Some(&b[v..end]);
                    holes.push((v, end, HOLE_GENERATED_AT));
                }
                b"\"trigger\"" if trigger.is_none() => {
                    trigger = Some(&b[v..end]);
                    holes.push((v, end, HOLE_TRIGGER));
                }
                b"\"checks\"" if b[v] == b'[' && !seen_checks => {
                    seen_checks = true;
                    for (s, e) in array_elements(b, v)? {
                        checks.push(&b[s..e]);
                        holes.push((s, e, HOLE_CHECK));
                    }
                }
                _ => {}
            }
            i = skip_ws(b, end);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
    }
    let mut skeleton = Vec::with_capacity(b.len() / 4);
    put_varint(&mut skeleton, holes.len() as u64);
    let mut text = Vec::with_capacity(b.len());
    let mut pos = 0;
    for &(start, end, kind) in &holes {
        text.extend_from_slice(&b[pos..start]);
        pos = end;
        put_varint(&mut skeleton, text.len() as u64);
        skeleton.push(kind);
    }
    text.extend_from_slice(&b[pos..]);
    skeleton.extend_from_slice(&text);
    Some(Split {
        skeleton,
        checks,
        report_id,
        generated_at,
        trigger,
    })
}

/// [`split`], or for a body that is not a JSON object, a skeleton without holes holding all of
/// it.
#[must_use]
pub fn split_or_whole(body: &str) -> Split<'_> {
    split(body).unwrap_or_else(|| {
        let mut skeleton = Vec::with_capacity(body.len() + 1);
        put_varint(&mut skeleton, 0);
        skeleton.extend_from_slice(body.as_bytes());
        Split {
            skeleton,
            checks: Vec::new(),
            report_id: None,
            generated_at: None,
            trigger: None,
        }
    })
}

/// Glues a body back together from its skeleton, its check parts (in order) and the values of
/// its record. `None` when they do not fit (a part missing or of another report).
#[must_use]
pub fn compose(skeleton: &[u8], checks: &[Vec<u8>], record: &Record) -> Option<Vec<u8>> {
    let mut r = Reader::new(skeleton);
    let n = usize::try_from(r.varint()?).ok()?;
    let mut holes = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let at = usize::try_from(r.varint()?).ok()?;
        let kind = r.byte()?;
        holes.push((at, kind));
    }
    let text = r.rest();
    let mut out = Vec::with_capacity(text.len() + checks.iter().map(Vec::len).sum::<usize>() + 128);
    let mut pos = 0;
    let mut next_check = checks.iter();
    for (at, kind) in holes {
        out.extend_from_slice(text.get(pos..at)?);
        pos = at;
        match kind {
            HOLE_REPORT_ID => out.extend_from_slice(&record.report_id_token()),
            HOLE_GENERATED_AT => out.extend_from_slice(&record.generated_token()),
            HOLE_TRIGGER => out.extend_from_slice(record.trigger.as_deref()?),
            HOLE_CHECK => out.extend_from_slice(next_check.next()?),
            _ => return None,
        }
    }
    if next_check.next().is_some() {
        return None;
    }
    out.extend_from_slice(text.get(pos..)?);
    Some(out)
}

// --- check-in records ---

/// How a report id is kept in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdToken {
    /// A lowercase hyphenated UUID, as agents make them: 16 bytes.
    Uuid([u8; 16]),
    /// Anything else: the JSON token as sent.
    Raw(Vec<u8>),
}

/// How `generated_at` is kept in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeToken {
    /// `"YYYY-MM-DDTHH:MM:SS[.fraction]Z"`: seconds, and the fraction's digits and value.
    Utc {
        /// Unix seconds.
        secs: i64,
        /// Number of fraction digits (0 to 9).
        digits: u8,
        /// The fraction as an integer of `digits` digits.
        fraction: u32,
    },
    /// Anything else: the JSON token as sent.
    Raw(Vec<u8>),
}

/// One check-in: a report the collector acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the collector received it (Unix ms).
    pub received_at: i64,
    /// The posture the collector judged.
    pub posture: Posture,
    /// The report id.
    pub report_id: IdToken,
    /// `generated_at`.
    pub generated_at: TimeToken,
    /// The `trigger` value as sent.
    pub trigger: Option<Vec<u8>>,
    /// Part ids: the skeleton, then each check in order. Empty for a body kept whole
    /// ([`Record::whole`]).
    pub parts: Vec<i64>,
}

const FLAG_POSTURE: u8 = 0b11;
const FLAG_UUID: u8 = 0b100;
const FLAG_UTC: u8 = 0b1000;
const FLAG_TRIGGER: u8 = 0b1_0000;

impl Record {
    /// The record of a report: its values from the split body, `report_id` (the parsed value)
    /// for bodies whose id was not cut out.
    #[must_use]
    pub fn new(
        received_at: i64,
        posture: Posture,
        split: &Split<'_>,
        report_id: &str,
        parts: Vec<i64>,
    ) -> Self {
        let id_token = split
            .report_id
            .map_or_else(|| json_string(report_id), <[u8]>::to_vec);
        Self {
            received_at,
            posture,
            report_id: uuid_of(&id_token).map_or(IdToken::Raw(id_token), IdToken::Uuid),
            generated_at: split
                .generated_at
                .map_or(TimeToken::Raw(Vec::new()), time_token),
            trigger: split.trigger.map(<[u8]>::to_vec),
            parts,
        }
    }

    /// The JSON token of the report id.
    #[must_use]
    pub fn report_id_token(&self) -> Vec<u8> {
        match &self.report_id {
            IdToken::Uuid(bytes) => {
                let u = uuid::Uuid::from_bytes(*bytes).hyphenated().to_string();
                json_string(&u)
            }
            IdToken::Raw(raw) => raw.clone(),
        }
    }

    /// The report id.
    #[must_use]
    pub fn report_id(&self) -> String {
        match &self.report_id {
            IdToken::Uuid(bytes) => uuid::Uuid::from_bytes(*bytes).hyphenated().to_string(),
            IdToken::Raw(raw) => serde_json::from_slice(raw).unwrap_or_default(),
        }
    }

    /// Whether this is the record of `report_id`.
    #[must_use]
    pub fn is(&self, report_id: &str) -> bool {
        match &self.report_id {
            IdToken::Uuid(bytes) => uuid_text(report_id).is_some_and(|u| &u == bytes),
            IdToken::Raw(_) => self.report_id() == report_id,
        }
    }

    /// The JSON token of `generated_at`.
    #[must_use]
    pub fn generated_token(&self) -> Vec<u8> {
        match &self.generated_at {
            TimeToken::Utc {
                secs,
                digits,
                fraction,
            } => format_utc(*secs, *digits, *fraction).unwrap_or_default(),
            TimeToken::Raw(raw) => raw.clone(),
        }
    }

    /// `generated_at` in Unix ms, as the collector read it at ingest.
    #[must_use]
    pub fn generated_at_ms(&self) -> Option<i64> {
        match &self.generated_at {
            TimeToken::Utc {
                secs,
                digits,
                fraction,
            } => {
                let nanos = i128::from(*secs) * 1_000_000_000
                    + i128::from(*fraction) * 10i128.pow(9 - u32::from(*digits));
                i64::try_from(nanos / 1_000_000).ok()
            }
            TimeToken::Raw(raw) => {
                let text: String = serde_json::from_slice(raw).ok()?;
                let t =
                    OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                        .ok()?;
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
            }
        }
    }

    /// Appends the record to a block (length-prefixed, so a reader can skip what it does not
    /// understand). `day_start` is the block's day in Unix ms.
    pub fn encode(&self, day_start: i64, out: &mut Vec<u8>) {
        let mut rec = Vec::with_capacity(64);
        let mut flags = match self.posture {
            Posture::Compliant => 0,
            Posture::Noncompliant => 1,
            Posture::Unknown => 2,
        };
        if matches!(self.report_id, IdToken::Uuid(_)) {
            flags |= FLAG_UUID;
        }
        if matches!(self.generated_at, TimeToken::Utc { .. }) {
            flags |= FLAG_UTC;
        }
        if self.trigger.is_some() {
            flags |= FLAG_TRIGGER;
        }
        rec.push(flags);
        put_varint(&mut rec, zigzag(self.received_at - day_start));
        match &self.report_id {
            IdToken::Uuid(bytes) => rec.extend_from_slice(bytes),
            IdToken::Raw(raw) => put_bytes(&mut rec, raw),
        }
        match &self.generated_at {
            TimeToken::Utc {
                secs,
                digits,
                fraction,
            } => {
                put_varint(&mut rec, zigzag(secs - self.received_at.div_euclid(1000)));
                rec.push(*digits);
                put_varint(&mut rec, u64::from(*fraction));
            }
            TimeToken::Raw(raw) => put_bytes(&mut rec, raw),
        }
        if let Some(t) = &self.trigger {
            put_bytes(&mut rec, t);
        }
        put_varint(&mut rec, self.parts.len() as u64);
        for p in &self.parts {
            put_varint(&mut rec, u64::try_from(*p).unwrap_or_default());
        }
        put_varint(out, rec.len() as u64);
        out.extend_from_slice(&rec);
    }

    fn decode(day_start: i64, rec: &[u8]) -> Option<Self> {
        let mut r = Reader::new(rec);
        let flags = r.byte()?;
        let posture = match flags & FLAG_POSTURE {
            0 => Posture::Compliant,
            1 => Posture::Noncompliant,
            2 => Posture::Unknown,
            _ => return None,
        };
        let received_at = day_start + unzigzag(r.varint()?);
        let report_id = if flags & FLAG_UUID != 0 {
            IdToken::Uuid(r.take(16)?.try_into().ok()?)
        } else {
            IdToken::Raw(r.bytes()?.to_vec())
        };
        let generated_at = if flags & FLAG_UTC != 0 {
            let secs = received_at.div_euclid(1000) + unzigzag(r.varint()?);
            let digits = r.byte()?;
            let fraction = u32::try_from(r.varint()?).ok()?;
            if digits > 9 {
                return None;
            }
            TimeToken::Utc {
                secs,
                digits,
                fraction,
            }
        } else {
            TimeToken::Raw(r.bytes()?.to_vec())
        };
        let trigger = if flags & FLAG_TRIGGER != 0 {
            Some(r.bytes()?.to_vec())
        } else {
            None
        };
        let n = usize::try_from(r.varint()?).ok()?;
        let mut parts = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            parts.push(i64::try_from(r.varint()?).ok()?);
        }
        Some(Self {
            received_at,
            posture,
            report_id,
            generated_at,
            trigger,
            parts,
        })
    }
}

/// The records of a block, in the order they were appended. A record that does not decode is
/// skipped (its length prefix still says where the next one starts); a damaged length ends the
/// block.
#[must_use]
pub fn decode_block(day: i64, data: &[u8]) -> Vec<Record> {
    let day_start = day * DAY_MS;
    let mut out = Vec::new();
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let Some(rec) = r.bytes() else { break };
        if let Some(record) = Record::decode(day_start, rec) {
            out.push(record);
        }
    }
    out
}

/// The millisecond time in a UUIDv7 report id: where its record most likely is.
#[must_use]
pub fn uuid_v7_time(report_id: &str) -> Option<i64> {
    let u = uuid::Uuid::parse_str(report_id).ok()?;
    if u.get_version_num() != 7 {
        return None;
    }
    let b = u.as_bytes();
    let ms = b[..6]
        .iter()
        .fold(0i64, |acc, x| (acc << 8) | i64::from(*x));
    Some(ms)
}

fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_default()
}

/// The 16 bytes of a token that is exactly `"` + a lowercase hyphenated UUID + `"`.
fn uuid_of(token: &[u8]) -> Option<[u8; 16]> {
    let inner = token.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    uuid_text(std::str::from_utf8(inner).ok()?)
}

/// The bytes of a lowercase hyphenated UUID text (and only that form: it must print back the
/// same).
fn uuid_text(s: &str) -> Option<[u8; 16]> {
    if s.len() != 36 {
        return None;
    }
    let u = uuid::Uuid::parse_str(s).ok()?;
    (u.hyphenated().to_string() == s).then(|| *u.as_bytes())
}

fn time_token(token: &[u8]) -> TimeToken {
    parse_utc(token).unwrap_or_else(|| TimeToken::Raw(token.to_vec()))
}

/// `"YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z"`, only when printing it back gives the same bytes.
fn parse_utc(token: &[u8]) -> Option<TimeToken> {
    let s = std::str::from_utf8(token.strip_prefix(b"\"")?.strip_suffix(b"\"")?).ok()?;
    let s = s.strip_suffix('Z')?;
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if main.len() != 19 || !main.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| main.get(r)?.parse::<u32>().ok();
    let date = Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let t = Time::from_hms(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    let secs = PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    let (digits, fraction) = match frac {
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|c| c.is_ascii_digit()) => {
            (u8::try_from(f.len()).ok()?, f.parse::<u32>().ok()?)
        }
        Some(_) => return None,
        None => (0, 0),
    };
    let parsed = TimeToken::Utc {
        secs,
        digits,
        fraction,
    };
    (format_utc(secs, digits, fraction)? == token).then_some(parsed)
}

fn format_utc(secs: i64, digits: u8, fraction: u32) -> Option<Vec<u8>> {
    let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let mut s = format!(
        "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if digits > 0 {
        s.push_str(&format!(
            ".{:0width$}",
            fraction,
            width = usize::from(digits)
        ));
    }
    s.push_str("Z\"");
    Some(s.into_bytes())
}

// --- varints ---

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0 }
    }
    fn is_empty(&self) -> bool {
        self.i >= self.b.len()
    }
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.take(n)
    }
    fn rest(&self) -> &'a [u8] {
        &self.b[self.i.min(self.b.len())..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/protocol/report-0.1.0-linux.json"
    ));

    fn round_trip(body: &str, received_at: i64) -> (Record, Vec<u8>) {
        let split = split(body).expect("an object");
        let report_id: String = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["report_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let parts: Vec<i64> = (1..=i64::try_from(1 + split.checks.len()).unwrap()).collect();
        let record = Record::new(
            received_at,
            Posture::Noncompliant,
            &split,
            &report_id,
            parts,
        );
        let day = day_of(received_at);
        let mut block = Vec::new();
        record.encode(day * DAY_MS, &mut block);
        record.encode(day * DAY_MS, &mut block);
        let decoded = decode_block(day, &block);
        assert_eq!(decoded, vec![record.clone(), record.clone()]);
        let checks: Vec<Vec<u8>> = split.checks.iter().map(|c| c.to_vec()).collect();
        let body_again = compose(&split.skeleton, &checks, &decoded[0]).expect("fits");
        (decoded[0].clone(), body_again)
    }

    #[test]
    fn an_agent_report_comes_back_byte_for_byte_from_a_compact_record() {
        let (record, again) = round_trip(REPORT, 1_796_000_000_123);
        assert_eq!(again, REPORT.as_bytes());
        assert!(matches!(record.report_id, IdToken::Uuid(_)));
        assert!(matches!(
            record.generated_at,
            TimeToken::Utc { digits: 9, .. }
        ));
        assert_eq!(record.report_id(), "01a24581-0fc4-740f-80e2-220340504886");
        let mut block = Vec::new();
        record.encode(day_of(record.received_at) * DAY_MS, &mut block);
        assert!(block.len() < 60, "{} bytes", block.len());
    }

    #[test]
    fn odd_bodies_come_back_byte_for_byte_too() {
        for body in [
            r#"{"report_id":"R-1","generated_at":"2026-12-05T09:20:15+01:00","checks":[]}"#,
            r#" { "checks" : [ {"a":"]}\"["} , 2 ] , "report_id" : "\u0041b" , "trigger":{"kind":"change"} } "#,
            r#"{"report_id":"01a24581-0FC4-740f-80e2-220340504886","generated_at":"2026-12-05T09:20:15Z"}"#,
            r#"{}"#,
            r#"{"checks":"not an array","generated_at":7}"#,
        ] {
            let (_, again) = round_trip(body, 5 * DAY_MS + 17);
            assert_eq!(String::from_utf8(again).unwrap(), body);
        }
    }

    #[test]
    fn identical_checks_have_one_address_and_differ_from_skeletons() {
        let a = split(REPORT).unwrap();
        let changed = REPORT.replace("01a24581-0fc4-740f-80e2-220340504886", "another");
        let b = split(&changed).unwrap();
        let da: Vec<Vec<u8>> = a.parts().iter().map(Part::digest).collect();
        let db: Vec<Vec<u8>> = b.parts().iter().map(Part::digest).collect();
        assert_eq!(da, db, "only the report id differs: the same parts");
        assert_eq!(
            a.parts()[1].check_status(),
            Some(("screen_lock".into(), "not_applicable".into()))
        );
        let packed = compress(a.checks[1]);
        assert_eq!(decompress(&packed).unwrap(), a.checks[1]);
    }

    #[test]
    fn a_uuid_v7_id_tells_when_it_was_made() {
        let id = uuid::Uuid::now_v7().to_string();
        let t = uuid_v7_time(&id).unwrap();
        assert!((t - crate::app::now_ms()).abs() < 60_000);
        assert_eq!(uuid_v7_time("not-a-uuid"), None);
    }
}
