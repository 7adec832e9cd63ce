//! What the runtime implements, derived by `build.rs` from its own `match` arms, so that the translator can
//! tell "not allowed by APIM" (refused) from "allowed, but apim-emu cannot run it yet" (unsupported) at load
//! time instead of at the first request.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/implemented.rs"));
}

/// Whether `Type.Name(…)` is implemented (`ty` canonical, e.g. `System.String`).
pub fn static_call(ty: &str, name: &str) -> bool {
    generated::STATIC_CALLS
        .binary_search(&(ty, name))
        .or_else(|_| generated::STATIC_CALLS.binary_search(&(ty, "*")))
        .is_ok()
}

/// Whether `new Type(…)` is implemented (generic arguments ignored).
pub fn constructor(ty: &str) -> bool {
    let base = ty.split('<').next().unwrap_or(ty);
    // Exception types are one guarded arm (`t if t.ends_with("Exception")`) in `statics::construct`.
    base.ends_with("Exception") || generated::CONSTRUCTORS.binary_search(&base).is_ok()
}

/// Whether some runtime type implements an instance member of this name.
pub fn member(name: &str) -> bool {
    generated::MEMBER_NAMES.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_are_read_from_the_runtime() {
        assert!(super::static_call("System.String", "IsNullOrEmpty"));
        assert!(super::static_call("System.Int32", "TryParse"));
        assert!(super::static_call("System.Math", "Max"));
        assert!(super::static_call(
            "System.Text.RegularExpressions.Regex",
            "IsMatch"
        ));
        assert!(!super::static_call("System.Math", "FooBar"));
        assert!(super::static_call("System.Xml.Linq.XDocument", "Parse"));
        assert!(!super::static_call("System.Xml.Linq.XDocument", "ReadFrom"));
        assert!(super::constructor("Newtonsoft.Json.Linq.JObject"));
        assert!(super::constructor(
            "System.Collections.Generic.List<System.String>"
        ));
        assert!(super::constructor("System.InvalidOperationException"));
        assert!(super::constructor("System.Xml.Linq.XDocument"));
        assert!(!super::constructor("System.Xml.Linq.XDeclaration"));
        assert!(super::member("GetValueOrDefault"));
        assert!(super::member("Substring"));
        assert!(super::member("StatusCode"));
        assert!(!super::member("FooBar"));
    }
}
