//! Prints the Rhai script an expression translates to: `cargo run -p apim-expr --example script -- EXPR`.
fn main() {
    let text = std::env::args().nth(1).unwrap_or_default();
    match apim_expr::Engine::default().compile(&text) {
        Ok(c) => println!("{}", c.script()),
        Err(e) => eprintln!("{e}"),
    }
}
