//! The small HTML page browsers get with a 402 (`Accept: text/html` and a `Mozilla` agent).
//!
//! It says what the resource costs and how to pay (an x402 client); the machine-readable
//! challenge is in the `PAYMENT-REQUIRED` header of the same response, as for API clients.

use std::fmt::Write as _;

use crate::{money, offer::Offer};

/// Renders the paywall page for `offer` at `url`.
pub(crate) fn render(offer: &Offer, url: &str) -> String {
    let mut options = String::new();
    for accept in offer.accepts() {
        let amount = money::format_units(accept.amount(), accept.asset().decimals);
        let token = accept
            .asset()
            .eip712
            .as_ref()
            .map_or("tokens", |d| d.name.as_ref());
        let _ = write!(
            options,
            "<li><strong>{}</strong> {} on <code>{}</code></li>",
            escape(&amount),
            escape(token),
            escape(accept.network().caip2()),
        );
    }
    let description = if offer.description().is_empty() {
        String::new()
    } else {
        format!("<p>{}</p>", escape(offer.description()))
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Payment required</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}\
code{{background:#f3f3f3;padding:0 .2rem}}</style></head>\
<body><h1>Payment required</h1>{description}\
<p>This resource costs:</p><ul>{options}</ul>\
<p>Pay with an <a href=\"https://x402.org\">x402</a> client: the payment requirements are in \
this response's <code>PAYMENT-REQUIRED</code> header.</p>\
<p><small>{}</small></p></body></html>\n",
        escape(url)
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
