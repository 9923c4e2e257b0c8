//! A scanner for the flat JSON object of an audio or transcript delta, the frames that make
//! up most of a response's traffic.
//!
//! It accepts only the plain form the service sends: the known keys, each once; strings
//! without escapes; integers. It says `None` to anything else, and the caller then takes the
//! serde path, which gives the same result or the error. The long base64 string is found with
//! a vectorised search instead of being parsed byte by byte.

/// The fields of a delta, borrowed from the frame.
#[derive(Debug, PartialEq)]
pub(super) struct Delta<'a> {
    /// The event's `type` (which delta it is, if one at all).
    pub(super) kind: &'a str,
    pub(super) response_id: &'a str,
    pub(super) item_id: &'a str,
    pub(super) content_index: i64,
    /// Not checked for control characters: an audio delta's base64 decoder refuses them, and
    /// a transcript delta is checked by the caller ([`plain`]).
    pub(super) delta: &'a str,
}

/// Scans `text` as a delta event object; `None` when it is not in the plain form.
pub(super) fn scan(text: &str) -> Option<Delta<'_>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut kind = None;
    let mut event_id = None;
    let mut response_id = None;
    let mut item_id = None;
    let mut content_index = None;
    let mut output_index = None;
    let mut delta = None;
    loop {
        i = skip_ws(b, i);
        let (key, next) = string(text, i)?;
        i = skip_ws(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        i = match key {
            "type" => once(&mut kind, checked_string(text, i)?)?,
            "event_id" => once(&mut event_id, checked_string(text, i)?)?,
            "response_id" => once(&mut response_id, checked_string(text, i)?)?,
            "item_id" => once(&mut item_id, checked_string(text, i)?)?,
            "delta" => once(&mut delta, string(text, i)?)?,
            "content_index" => once(&mut content_index, integer(b, i)?)?,
            "output_index" => once(&mut output_index, integer(b, i)?)?,
            _ => return None,
        };
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i += 1,
            b'}' => break,
            _ => return None,
        }
    }
    if skip_ws(b, i + 1) != b.len() {
        return None;
    }
    event_id?;
    output_index?;
    Some(Delta {
        kind: kind?,
        response_id: response_id?,
        item_id: item_id?,
        content_index: content_index?,
        delta: delta?,
    })
}

/// Whether a string holds no control character (which JSON does not allow unescaped).
pub(super) fn plain(s: &str) -> bool {
    !s.bytes().any(|c| c < 0x20)
}

fn once<T>(slot: &mut Option<T>, (value, next): (T, usize)) -> Option<usize> {
    if slot.is_some() {
        // A repeated key: the serde path refuses it.
        return None;
    }
    *slot = Some(value);
    Some(next)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The string starting at `i` (its opening quote) and the index after its closing quote;
/// `None` for a string with an escape (the serde path unescapes it) or no end.
fn string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = memchr::memchr2(b'"', b'\\', b.get(start..)?)?;
    let end = start + len;
    if b[end] != b'"' {
        return None;
    }
    // Quotes are ASCII, so both ends fall on character boundaries.
    Some((text.get(start..end)?, end + 1))
}

/// A string that must hold no control character.
fn checked_string(text: &str, i: usize) -> Option<(&str, usize)> {
    string(text, i).filter(|(s, _)| plain(s))
}

/// A JSON integer that fits an `i64` (no fraction, no exponent, no leading zero).
fn integer(b: &[u8], mut i: usize) -> Option<(i64, usize)> {
    let negative = b.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let start = i;
    let mut value: i64 = 0;
    while let Some(c @ b'0'..=b'9') = b.get(i) {
        let digit = i64::from(c - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
        i += 1;
    }
    let digits = i - start;
    if digits == 0 || (digits > 1 && b[start] == b'0') {
        return None;
    }
    if let Some(b'.' | b'e' | b'E') = b.get(i) {
        return None;
    }
    Some((value, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = r#"{"type":"response.output_audio.delta","event_id":"e1","response_id":"r1","item_id":"i1","output_index":0,"content_index":2,"delta":"AAAA"}"#;

    #[test]
    fn the_plain_form_is_scanned() {
        assert_eq!(
            scan(PLAIN),
            Some(Delta {
                kind: "response.output_audio.delta",
                response_id: "r1",
                item_id: "i1",
                content_index: 2,
                delta: "AAAA",
            })
        );
        // Any key order, and whitespace anywhere JSON allows it.
        let spaced = "\n { \"delta\" : \"AAAA\" ,\t\"content_index\":2,\"item_id\":\"i1\",\r\n\"output_index\":0,\"response_id\":\"r1\",\"event_id\":\"e1\",\"type\":\"response.output_audio.delta\" } \n";
        assert_eq!(scan(spaced), scan(PLAIN));
        assert_eq!(
            scan(&PLAIN.replace(":2,", ":-7,")).unwrap().content_index,
            -7
        );
    }

    #[test]
    fn anything_unusual_takes_the_serde_path() {
        for (from, to) in [
            (r#""AAAA""#, r#""AA\nAA""#),                       // an escape
            (r#""r1""#, "\"r\u{1}1\""),                         // a control character in an id
            (r#""content_index":2"#, r#""content_index":2.0"#), // a float
            (r#""content_index":2"#, r#""content_index":2e0"#), // an exponent
            (r#""content_index":2"#, r#""content_index":02"#),  // a leading zero
            (r#""content_index":2"#, r#""content_index":"2""#), // a string
            (
                r#""content_index":2"#,
                r#""content_index":99999999999999999999"#,
            ), // overflow
            (r#""content_index":2"#, r#""content_index":-"#),   // no digits
            (r#""event_id":"e1","#, ""),                        // a required key missing
            (r#""type":"response.output_audio.delta","#, ""),   // no type
            (r#""event_id":"e1","#, r#""event_id":"e1","x":1,"#), // an unknown key
            (r#""item_id":"i1","#, r#""item_id":"i1","item_id":"i2","#), // a repeated key
            (r#""item_id":"i1""#, r#""item_id":null"#),         // null
        ] {
            let text = PLAIN.replacen(from, to, 1);
            assert_ne!(text, PLAIN, "{from}");
            assert_eq!(scan(&text), None, "{text}");
        }
        for text in [
            "",
            "[]",
            "{",
            "{}",
            &PLAIN[..PLAIN.len() - 1],
            &format!("{PLAIN},"),
            &format!("{PLAIN}{{}}"),
            &PLAIN.replace("\"AAAA\"", "\"AAAA"),
        ] {
            assert_eq!(scan(text), None, "{text}");
        }
    }

    #[test]
    fn plain_means_no_control_characters() {
        assert!(plain("héllo \"quoted\" ✓"));
        assert!(!plain("a\tb"));
        assert!(!plain("a\u{0}"));
    }
}
