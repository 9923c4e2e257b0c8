//! Beta `ServerEvent::from_json` and `ClientEvent::from_json` on arbitrary text: never panics, and
//! whatever decodes encodes and decodes again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_protocol::beta::{ClientEvent, ServerEvent};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(ev) = ServerEvent::from_json(text) {
        let json = ev.to_json().expect("a decoded event encodes");
        let again = ServerEvent::from_json(&json).expect("what we encode we decode");
        assert_eq!(again.event_type(), ev.event_type());
    }
    if let Ok(ev) = ClientEvent::from_json(text) {
        let json = ev.to_json().expect("a decoded event encodes");
        let again = ClientEvent::from_json(&json).expect("what we encode we decode");
        assert_eq!(again.event_type(), ev.event_type());
    }
});
