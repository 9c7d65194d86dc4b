//! Envelope v1 parsing that only ever says "valid, and here it is" or "ask Python".
//!
//! The reference parser (`common.envelope.parse_envelope`) owns every reason code. This
//! one accepts the shape real meters send — compact or spaced JSON, no escapes, no
//! non-ASCII bytes — checks every rule of the schema, and returns the same values the
//! reference would. Anything else (any error, any unusual but possibly valid input)
//! yields `None`, and the caller runs the reference parser on that message, so a
//! rejection is always explained by the reference's own code and detail.

pub const MAX_WIRE_BYTES: usize = 2048;
const INT64_MAX: i64 = i64::MAX;
const INT64_MIN: i64 = i64::MIN;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Int(i64),
    Str(&'a str),
}

/// A wire message that the reference parser would accept, with its decoded parts.
pub struct Parsed {
    pub meter: String,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    /// The payload's fields in document order (values borrow from ``payload``).
    pub fields: Vec<(&'static str, FieldValue)>,
}

/// An owned field value (the payload is owned by `Parsed`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Int(i64),
    Str(String),
}

type Schema = &'static [(&'static str, Kind, i64, i64)];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Str,
}

const READING: Schema = &[
    ("kind", Kind::Str, 0, 0),
    ("meter", Kind::Str, 0, 0),
    ("seq", Kind::Int, 1, INT64_MAX),
    ("ts", Kind::Int, 0, INT64_MAX),
    ("clk", Kind::Int, 0, 1),
    ("int_s", Kind::Int, 1, 86_400),
    ("imp_wh", Kind::Int, 0, INT64_MAX),
    ("exp_wh", Kind::Int, 0, INT64_MAX),
    ("v_dv", Kind::Int, 0, INT64_MAX),
    ("i_ma", Kind::Int, INT64_MIN, INT64_MAX),
    ("p_w", Kind::Int, INT64_MIN, INT64_MAX),
    ("pf_milli", Kind::Int, -1000, 1000),
    ("f_chz", Kind::Int, 0, INT64_MAX),
    ("fw", Kind::Str, 0, 0),
];

const GAP: Schema = &[
    ("kind", Kind::Str, 0, 0),
    ("meter", Kind::Str, 0, 0),
    ("seq", Kind::Int, 1, INT64_MAX),
    ("ts", Kind::Int, 0, INT64_MAX),
    ("clk", Kind::Int, 0, 1),
    ("from_seq", Kind::Int, 1, INT64_MAX),
    ("to_seq", Kind::Int, 1, INT64_MAX),
    ("fw", Kind::Str, 0, 0),
];

// ------------------------------------------------------------------ a flat JSON object

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A string of printable ASCII without escapes (anything else: let Python decide).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => return None,
                0x20..=0x7e => self.i += 1,
                _ => return None,
            }
        }
        let s = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        self.i += 1;
        Some(s)
    }

    /// An integer literal within i64 (fractions, exponents and big numbers: Python).
    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let n = self.i - digits;
        if n == 0 || n > 19 || (n > 1 && self.b[digits] == b'0') {
            return None;
        }
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i]).ok()?.parse::<i64>().ok()
    }

    fn value(&mut self) -> Option<Value<'a>> {
        self.ws();
        match self.b.get(self.i)? {
            b'"' => self.string().map(Value::Str),
            b'-' | b'0'..=b'9' => self.integer().map(Value::Int),
            _ => None,
        }
    }

    /// ``{ "key": value, ... }`` with string or integer values, the whole input.
    fn object(mut self) -> Option<Vec<(&'a str, Value<'a>)>> {
        let mut out = Vec::with_capacity(16);
        self.eat(b'{')?;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                let value = self.value()?;
                out.push((key, value));
                self.ws();
                match self.b.get(self.i)? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.ws();
        (self.i == self.b.len()).then_some(out)
    }
}

// ------------------------------------------------------------------ base64

fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64 in its one canonical form (padding, zero trailing bits).
fn canonical_b64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 4 != 0 {
        return None;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (n, chunk) in b.chunks_exact(4).enumerate() {
        let last = n == b.len() / 4 - 1;
        let used = if last { 4 - pad } else { 4 };
        let mut acc = 0u32;
        for (j, &c) in chunk.iter().enumerate() {
            let v = if j < used { sextet(c)? } else { 0 };
            acc = (acc << 6) | v;
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        match used {
            4 => out.extend_from_slice(&bytes),
            3 if acc & 0xff == 0 => out.extend_from_slice(&bytes[..2]),
            2 if acc & 0xffff == 0 => out.push(bytes[0]),
            _ => return None,
        }
    }
    Some(out)
}

// ------------------------------------------------------------------ schema

fn meter_id_ok(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn fw_ok(s: &str) -> bool {
    (1..=24).contains(&s.len())
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'))
}

fn payload_fields(payload: &[u8], meter: &str) -> Option<Vec<(&'static str, FieldValue)>> {
    let pairs = Cursor { b: payload, i: 0 }.object()?;
    let kind = pairs.iter().find(|(k, _)| *k == "kind").map(|(_, v)| v)?;
    let schema = match kind {
        Value::Str("reading") => READING,
        Value::Str("gap") => GAP,
        _ => return None,
    };
    if pairs.len() != schema.len() {
        return None;
    }
    let mut seen = vec![false; schema.len()];
    let mut fields = Vec::with_capacity(schema.len());
    for (key, value) in &pairs {
        let at = schema.iter().position(|(name, ..)| name == key)?;
        if std::mem::replace(&mut seen[at], true) {
            return None;
        }
        let (name, kind, lo, hi) = schema[at];
        let owned = match (kind, value) {
            (Kind::Int, Value::Int(v)) if lo <= *v && *v <= hi => FieldValue::Int(*v),
            (Kind::Str, Value::Str(s)) => FieldValue::Str((*s).to_owned()),
            _ => return None,
        };
        fields.push((name, owned));
    }
    let get = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    let int = |name: &str| match get(name) {
        Some(FieldValue::Int(v)) => Some(*v),
        _ => None,
    };
    match get("meter") {
        Some(FieldValue::Str(m)) if meter_id_ok(m) && m == meter => {}
        _ => return None,
    }
    match get("fw") {
        Some(FieldValue::Str(f)) if fw_ok(f) => {}
        _ => return None,
    }
    let (clk, ts) = (int("clk")?, int("ts")?);
    if (clk == 0 && ts != 0) || (clk == 1 && ts == 0) {
        return None;
    }
    if schema.len() == GAP.len() {
        let (from, to, seq) = (int("from_seq")?, int("to_seq")?, int("seq")?);
        if from > to || to != seq {
            return None;
        }
    }
    Some(fields)
}

/// The decoded envelope if the reference parser would accept ``raw``; else ``None``.
pub fn parse(raw: &[u8]) -> Option<Parsed> {
    if raw.len() > MAX_WIRE_BYTES {
        return None;
    }
    let pairs = Cursor { b: raw, i: 0 }.object()?;
    if pairs.len() != 4 {
        return None;
    }
    let (mut v, mut meter, mut payload, mut sig) = (None, None, None, None);
    for (key, value) in pairs {
        let slot = match key {
            "v" => &mut v,
            "meter" => &mut meter,
            "payload" => &mut payload,
            "sig" => &mut sig,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let (Some(Value::Int(1)), Some(Value::Str(meter)), Some(Value::Str(payload)), Some(Value::Str(sig))) =
        (v, meter, payload, sig)
    else {
        return None;
    };
    if !meter_id_ok(meter) {
        return None;
    }
    let payload = canonical_b64(payload)?;
    let signature = canonical_b64(sig)?;
    if signature.len() != 64 {
        return None;
    }
    let fields = payload_fields(&payload, meter)?;
    Some(Parsed { meter: meter.to_owned(), payload, signature, fields })
}
