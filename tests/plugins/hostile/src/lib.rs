//! A plugin that misbehaves as its config `mode` says, for the sandbox tests.

use kafkatwin_plugin_sdk::{BatchContext, Config, Hook, Plugin, RecordView, Verdict};

/// The misbehaviour.
pub struct Hostile {
    mode: String,
}

fn recurse(n: u64) -> u64 {
    // Not a tail call: every level keeps a frame.
    if n == 0 {
        0
    } else {
        1 + recurse(std::hint::black_box(n + 1))
    }
}

impl Plugin for Hostile {
    const HOOKS: &'static [Hook] = &[Hook::Produce];

    fn init(config: &Config) -> Result<Self, String> {
        Ok(Self {
            mode: config.get("mode").unwrap_or("ok").to_owned(),
        })
    }

    fn on_produce(&self, _ctx: &BatchContext<'_>, _records: &[RecordView<'_>]) -> Verdict {
        match self.mode.as_str() {
            "loop" => loop {
                std::hint::black_box(());
            },
            "alloc" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hog);
                }
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "recurse" => {
                std::hint::black_box(recurse(1));
                Verdict::Keep
            }
            _ => Verdict::Keep,
        }
    }
}

kafkatwin_plugin_sdk::export_plugin!(Hostile);
