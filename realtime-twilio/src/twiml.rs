//! TwiML that connects a call to the bridge: `<Connect><Stream url=…>` with `<Parameter>`s,
//! which Twilio hands back in the stream's `start` (`customParameters`).

/// The TwiML answering a call with a bidirectional media stream to `ws_url`
/// (`wss://host/media-stream`), passing `parameters` through to [`crate::CallStart`].
pub fn connect_stream<K: AsRef<str>, V: AsRef<str>>(ws_url: &str, parameters: &[(K, V)]) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect>"#);
    xml.push_str(&format!(r#"<Stream url="{}">"#, escape(ws_url)));
    for (k, v) in parameters {
        xml.push_str(&format!(
            r#"<Parameter name="{}" value="{}"/>"#,
            escape(k.as_ref()),
            escape(v.as_ref())
        ));
    }
    xml.push_str("</Stream></Connect></Response>");
    xml
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes an `application/x-www-form-urlencoded` body (what Twilio POSTs to the TwiML URL).
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_escapes_and_passes_parameters() {
        let xml = connect_stream(
            "wss://example.com/media-stream",
            &[("From", "+1 <555> & co")],
        );
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://example.com/media-stream"><Parameter name="From" value="+1 &lt;555&gt; &amp; co"/></Stream></Connect></Response>"#
        );
    }

    #[test]
    fn form_bodies_decode() {
        assert_eq!(
            parse_form("CallSid=CA1&From=%2B15550001111&Caller=Jo+Doe&bad=%zz&end=%4"),
            [
                ("CallSid".to_owned(), "CA1".to_owned()),
                ("From".to_owned(), "+15550001111".to_owned()),
                ("Caller".to_owned(), "Jo Doe".to_owned()),
                ("bad".to_owned(), "%zz".to_owned()),
                ("end".to_owned(), "%4".to_owned()),
            ]
        );
    }
}
