//! The gas-sponsoring extensions of Permit2 payments: a payer who has not approved Permit2 yet
//! can send the one-time approval with the payment, and the facilitator pays its gas
//! (`specs/extensions/eip2612_gas_sponsoring.md` and `erc20_gas_sponsoring.md` in the
//! coinbase/x402 repository).
//!
//! An offer with a Permit2 option declares an extension in `PaymentRequired.extensions` only
//! when the facilitator's `/supported` lists it in `extensions`; `eip2612GasSponsoring` only
//! for a token whose EIP-712 domain (`name`, `version`) is known, since the payer signs an
//! EIP-2612 `Permit` over it. The declaration is what the reference server sends, text for text
//! (`declareEip2612GasSponsoringExtension` and `declareErc20ApprovalGasSponsoringExtension` of
//! `@x402/extensions` 2.27): `{info: {description, version: "1"}, schema}`, the schema listing
//! the fields the buyer fills in. (The EIP-2612 `amount` description says "Typically MaxUint",
//! as the reference's does; the proxies require exactly the permitted amount, and that is what
//! a buyer signs.)

use serde_json::{Value, json};

use crate::wire::{JsonObject, SupportedResponse};

/// The EIP-2612 extension: a signed `Permit(owner, Permit2, amount, nonce, deadline)`.
pub const EIP2612_GAS_SPONSORING: &str = "eip2612GasSponsoring";
/// The ERC-20 extension: a signed, unsent `approve(Permit2, max)` transaction.
pub const ERC20_APPROVAL_GAS_SPONSORING: &str = "erc20ApprovalGasSponsoring";

/// The declarations for an offer with Permit2 options, from the facilitator's `/supported`;
/// `eip2612` says whether some Permit2 option's token has a known EIP-712 domain. `None` when
/// nothing is declared.
pub(crate) fn declarations(
    supported: Option<&SupportedResponse>,
    eip2612: bool,
) -> Option<JsonObject> {
    let announced = |key: &str| supported.is_some_and(|s| s.extensions.iter().any(|e| e == key));
    let mut extensions = JsonObject::new();
    if eip2612 && announced(EIP2612_GAS_SPONSORING) {
        extensions.insert(EIP2612_GAS_SPONSORING.to_owned(), eip2612_declaration());
    }
    if announced(ERC20_APPROVAL_GAS_SPONSORING) {
        extensions.insert(
            ERC20_APPROVAL_GAS_SPONSORING.to_owned(),
            erc20_declaration(),
        );
    }
    (!extensions.is_empty()).then_some(extensions)
}

fn address(description: &str) -> Value {
    json!({"type": "string", "pattern": "^0x[a-fA-F0-9]{40}$", "description": description})
}

fn uint(description: &str) -> Value {
    json!({"type": "string", "pattern": "^[0-9]+$", "description": description})
}

fn version() -> Value {
    json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)*$",
           "description": "Schema version identifier."})
}

fn eip2612_declaration() -> Value {
    json!({
        "info": {
            "description": "The facilitator accepts EIP-2612 gasless Permit to `Permit2` canonical contract.",
            "version": "1",
        },
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "from": address("The address of the sender."),
                "asset": address("The address of the ERC-20 token contract."),
                "spender": address("The address of the spender (Canonical Permit2)."),
                "amount": uint("The amount to approve (uint256). Typically MaxUint."),
                "nonce": uint("The current nonce of the sender."),
                "deadline": uint("The timestamp at which the signature expires."),
                "signature": {"type": "string", "pattern": "^0x[a-fA-F0-9]+$",
                              "description": "The 65-byte concatenated signature (r, s, v) as a hex string."},
                "version": version(),
            },
            "required": ["from", "asset", "spender", "amount", "nonce", "deadline", "signature", "version"],
        },
    })
}

fn erc20_declaration() -> Value {
    json!({
        "info": {
            "description": "The facilitator broadcasts a pre-signed ERC-20 approve() transaction to grant Permit2 allowance.",
            "version": "1",
        },
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "from": address("The address of the sender (token owner)."),
                "asset": address("The address of the ERC-20 token contract."),
                "spender": address("The address of the spender (Canonical Permit2)."),
                "amount": uint("The amount approved (uint256). Always MaxUint256."),
                "signedTransaction": {"type": "string", "pattern": "^0x[a-fA-F0-9]+$",
                                      "description": "The RLP-encoded signed EIP-1559 transaction as a hex string."},
                "version": version(),
            },
            "required": ["from", "asset", "spender", "amount", "signedTransaction", "version"],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported(extensions: &[&str]) -> SupportedResponse {
        serde_json::from_value(json!({"kinds": [], "extensions": extensions})).unwrap()
    }

    #[test]
    fn only_what_the_facilitator_announces_is_declared() {
        assert_eq!(declarations(None, true), None);
        assert_eq!(declarations(Some(&supported(&[])), true), None);
        let both = supported(&[EIP2612_GAS_SPONSORING, ERC20_APPROVAL_GAS_SPONSORING]);
        let declared = declarations(Some(&both), true).unwrap();
        assert_eq!(declared[EIP2612_GAS_SPONSORING]["info"]["version"], "1");
        assert_eq!(
            declared[ERC20_APPROVAL_GAS_SPONSORING]["schema"]["required"][4],
            "signedTransaction"
        );
        // Without a known EIP-712 domain the payer cannot sign an EIP-2612 permit.
        let declared = declarations(Some(&both), false).unwrap();
        assert!(declared.get(EIP2612_GAS_SPONSORING).is_none());
        assert!(declared.get(ERC20_APPROVAL_GAS_SPONSORING).is_some());
    }

    /// `declareEip2612GasSponsoringExtension()` of `@x402/extensions` 2.27.0, as the official
    /// server sends it (the interop harness's comparison of 402s found ours worded otherwise).
    const REFERENCE_EIP2612: &str = r#"{"info":{"description":"The facilitator accepts EIP-2612 gasless Permit to `Permit2` canonical contract.","version":"1"},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"from":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$","description":"The address of the sender."},"asset":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$","description":"The address of the ERC-20 token contract."},"spender":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$","description":"The address of the spender (Canonical Permit2)."},"amount":{"type":"string","pattern":"^[0-9]+$","description":"The amount to approve (uint256). Typically MaxUint."},"nonce":{"type":"string","pattern":"^[0-9]+$","description":"The current nonce of the sender."},"deadline":{"type":"string","pattern":"^[0-9]+$","description":"The timestamp at which the signature expires."},"signature":{"type":"string","pattern":"^0x[a-fA-F0-9]+$","description":"The 65-byte concatenated signature (r, s, v) as a hex string."},"version":{"type":"string","pattern":"^[0-9]+(\\.[0-9]+)*$","description":"Schema version identifier."}},"required":["from","asset","spender","amount","nonce","deadline","signature","version"]}}"#;

    /// `declareErc20ApprovalGasSponsoringExtension()` of `@x402/extensions` 2.27.0.
    const REFERENCE_ERC20: &str = r#"{"info":{"description":"The facilitator broadcasts a pre-signed ERC-20 approve() transaction to grant Permit2 allowance.","version":"1"},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"from":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$","description":"The address of the sender (token owner)."},"asset":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$","description":"The address of the ERC-20 token contract."},"spender":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$","description":"The address of the spender (Canonical Permit2)."},"amount":{"type":"string","pattern":"^[0-9]+$","description":"The amount approved (uint256). Always MaxUint256."},"signedTransaction":{"type":"string","pattern":"^0x[a-fA-F0-9]+$","description":"The RLP-encoded signed EIP-1559 transaction as a hex string."},"version":{"type":"string","pattern":"^[0-9]+(\\.[0-9]+)*$","description":"Schema version identifier."}},"required":["from","asset","spender","amount","signedTransaction","version"]}}"#;

    #[test]
    fn the_declarations_are_the_reference_servers_text_for_text() {
        let reference = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(eip2612_declaration(), reference(REFERENCE_EIP2612));
        assert_eq!(erc20_declaration(), reference(REFERENCE_ERC20));
    }
}
