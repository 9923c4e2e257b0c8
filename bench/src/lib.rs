//! What the benchmark tools (`bench_client`, `load_bench`) share.

/// The conversation each session runs, turn after turn (the harness's scenarios).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// One spoken response per turn.
    Stream,
    /// A function call, its output, then the follow-up response.
    Tool,
    /// A response interrupted by the user's speech (barge-in).
    Interrupt,
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stream" => Ok(Self::Stream),
            "tool" => Ok(Self::Tool),
            "interrupt" => Ok(Self::Interrupt),
            s => Err(format!("unknown scenario {s}")),
        }
    }
}
