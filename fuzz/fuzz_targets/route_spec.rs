//! The route spec compiler: any text, as YAML or JSON, either compiles into a route table or
//! yields errors naming what is wrong — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::{RouteTable, spec::RouteSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for spec in [RouteSpec::from_yaml(text), RouteSpec::from_json(text)]
        .into_iter()
        .flatten()
    {
        if let Ok(table) = RouteTable::from_spec(&spec) {
            let _ = table.label_sets();
        }
    }
});
