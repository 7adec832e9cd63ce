//! Recursive-descent / precedence-climbing parser for the C# subset, with a nesting limit so that hostile input
//! (thousands of nested parentheses) is a located error instead of a stack overflow.

use crate::ast::*;
use crate::lex::{IntSuffix, InterpPiece, Lexer, RealSuffix, Tok, Token, is_reserved};
use crate::{ExprError, Range};

/// Deepest nesting of expressions and statements the parser accepts. Real policies nest a few levels;
/// long `&&` chains are flat loops here and do not count against it.
pub const MAX_DEPTH: usize = 256;

const PREDEFINED: &[&str] = &[
    "bool", "byte", "char", "decimal", "double", "float", "int", "long", "object", "sbyte",
    "short", "string", "uint", "ulong", "ushort", "void",
];

pub struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

pub fn parse_expression(src: &str, range: Range) -> Result<Expr, ExprError> {
    let mut p = Parser::new(src, range)?;
    let e = p.expr()?;
    p.expect_eof()?;
    Ok(e)
}

pub fn parse_block(src: &str, range: Range) -> Result<Vec<Stmt>, ExprError> {
    let mut p = Parser::new(src, range)?;
    let mut out = Vec::new();
    while !p.at_eof() {
        out.push(p.stmt()?);
    }
    Ok(out)
}

impl<'s> Parser<'s> {
    /// `src` is the whole expression text; `range` the part to parse.
    fn new(src: &'s str, range: Range) -> Result<Self, ExprError> {
        let toks = Lexer::new(&src[range.clone()], range.start).tokenize()?;
        Ok(Parser {
            src,
            toks,
            i: 0,
            depth: 0,
        })
    }

    fn tok(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn nth(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }

    fn range(&self) -> Range {
        self.toks[self.i].range.clone()
    }

    fn prev_end(&self) -> usize {
        if self.i == 0 {
            self.toks[0].range.start
        } else {
            self.toks[self.i - 1].range.end
        }
    }

    fn at_eof(&self) -> bool {
        matches!(self.tok(), Tok::Eof)
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.tok(), Tok::Punct(q) if *q == p)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.tok(), Tok::Ident(w) if w == k)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.is(p) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        if self.is_kw(k) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn describe(&self) -> String {
        match self.tok() {
            Tok::Eof => "the end of the expression".into(),
            Tok::Ident(w) => format!("`{w}`"),
            Tok::Punct(p) => format!("`{p}`"),
            _ => format!("`{}`", &self.src[self.range()]),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ExprError {
        let r = self.range();
        let r = if r.is_empty() {
            r.start.saturating_sub(1)..r.start.max(1)
        } else {
            r
        };
        ExprError::syntax(r, message)
    }

    fn expect(&mut self, p: &str) -> Result<(), ExprError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.error_here(format!("expected `{p}`, found {}", self.describe())))
        }
    }

    fn expect_eof(&self) -> Result<(), ExprError> {
        if self.at_eof() {
            Ok(())
        } else {
            Err(self.error_here(format!(
                "expected the end of the expression, found {}",
                self.describe()
            )))
        }
    }

    fn ident(&mut self) -> Result<(String, Range), ExprError> {
        match self.tok().clone() {
            Tok::Ident(w) if !is_reserved(&w) || self.src[self.range()].starts_with('@') => {
                let r = self.range();
                self.i += 1;
                Ok((w, r))
            }
            _ => Err(self.error_here(format!("expected an identifier, found {}", self.describe()))),
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::limit(
                self.range(),
                format!(
                    "expression is nested too deeply (more than {MAX_DEPTH} levels): simplify it"
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ----- types -----

    /// Tries to read a type at the cursor; restores the cursor and returns `None` when there is none.
    fn try_type(&mut self) -> Option<TypeRef> {
        let save = self.i;
        match self.type_ref() {
            Ok(t) => Some(t),
            Err(_) => {
                self.i = save;
                None
            }
        }
    }

    fn type_ref(&mut self) -> Result<TypeRef, ExprError> {
        let start = self.range().start;
        let mut name = match self.tok().clone() {
            Tok::Ident(w) if PREDEFINED.contains(&w.as_str()) || !is_reserved(&w) => {
                self.i += 1;
                w
            }
            _ => return Err(self.error_here("expected a type")),
        };
        let mut args = Vec::new();
        loop {
            if self.is("<") {
                args = self
                    .type_args()?
                    .ok_or_else(|| self.error_here("expected type arguments"))?;
            }
            if self.is(".") && matches!(self.nth(1), Tok::Ident(_)) && args.is_empty() {
                self.i += 1;
                let (w, _) = self.ident()?;
                name.push('.');
                name.push_str(&w);
                continue;
            }
            break;
        }
        let mut nullable = false;
        if self.is("?") && !self.looks_like_conditional_after_nullable() {
            self.i += 1;
            nullable = true;
        }
        let mut array = 0;
        while self.is("[") && matches!(self.nth(1), Tok::Punct("]")) {
            self.i += 2;
            array += 1;
        }
        Ok(TypeRef {
            name,
            args,
            array,
            nullable,
            range: start..self.prev_end(),
        })
    }

    /// `T?` versus `cond ? a : b` after a name: a nullable type is followed by an identifier and then `=`, `;`,
    /// `,` or `)` (a declaration or a cast), never by an expression and `:`.
    fn looks_like_conditional_after_nullable(&self) -> bool {
        !matches!(
            (self.nth(1), self.nth(2)),
            (Tok::Ident(_), Tok::Punct("=" | ";" | "," | ")" | "in"))
                | (Tok::Punct(")"), _)
                | (Tok::Punct(">" | ","), _)
                | (Tok::Punct("["), Tok::Punct("]"))
        )
    }

    /// `<T, U>`; `Ok(None)` (cursor restored) when the `<` is not a type-argument list.
    fn type_args(&mut self) -> Result<Option<Vec<TypeRef>>, ExprError> {
        let save = self.i;
        if !self.eat("<") {
            return Ok(None);
        }
        let mut args = Vec::new();
        loop {
            match self.try_type() {
                Some(t) => args.push(t),
                None => {
                    self.i = save;
                    return Ok(None);
                }
            }
            if self.eat(",") {
                continue;
            }
            if self.eat(">") {
                return Ok(Some(args));
            }
            // `>>` closing two lists is lexed as `>` `>` here because `>>` is not a punctuator token.
            self.i = save;
            return Ok(None);
        }
    }

    /// Type arguments after a name in an expression, accepted only when followed by a token that C#'s
    /// disambiguation rule allows (§12.8.9.2 / 6.2.5): `( ) ] } : ; , . ? == != | ^ && || & [`.
    fn expr_type_args(&mut self) -> Option<Vec<TypeRef>> {
        let save = self.i;
        match self.type_args() {
            Ok(Some(args))
                if matches!(
                    self.tok(),
                    Tok::Punct(
                        "(" | ")"
                            | "]"
                            | "}"
                            | ":"
                            | ";"
                            | ","
                            | "."
                            | "?"
                            | "=="
                            | "!="
                            | "|"
                            | "^"
                            | "&&"
                            | "||"
                            | "&"
                            | "["
                            | "?."
                    ) | Tok::Eof
                ) =>
            {
                Some(args)
            }
            _ => {
                self.i = save;
                None
            }
        }
    }

    // ----- statements -----

    fn block(&mut self) -> Result<Vec<Stmt>, ExprError> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.is("}") {
            if self.at_eof() {
                return Err(self.error_here("block is not closed: add `}`"));
            }
            out.push(self.stmt()?);
        }
        self.i += 1;
        Ok(out)
    }

    pub fn stmt(&mut self) -> Result<Stmt, ExprError> {
        crate::stack::guard(|| {
            self.enter()?;
            let r = self.stmt_inner();
            self.leave();
            r
        })
    }

    fn stmt_inner(&mut self) -> Result<Stmt, ExprError> {
        let start = self.range().start;
        let kind = if self.is("{") {
            StmtKind::Block(self.block()?)
        } else if (self.is_kw("checked") || self.is_kw("unchecked"))
            && matches!(self.nth(1), Tok::Punct("{"))
        {
            // Azure: C# arithmetic on non-constant values is unchecked by default, so `unchecked { }` is a
            // plain block; `checked` would need overflow exceptions on every operation inside.
            if self.is_kw("checked") {
                return Err(ExprError::unsupported(
                    self.range(),
                    "`checked` blocks (arithmetic that throws on overflow) are not supported yet",
                ));
            }
            self.i += 1;
            StmtKind::Block(self.block()?)
        } else if self.eat(";") {
            StmtKind::Empty
        } else if self.eat_kw("if") {
            self.expect("(")?;
            let cond = self.expr()?;
            self.expect(")")?;
            let then = Box::new(self.stmt()?);
            let otherwise = if self.eat_kw("else") {
                Some(Box::new(self.stmt()?))
            } else {
                None
            };
            StmtKind::If {
                cond,
                then,
                otherwise,
            }
        } else if self.eat_kw("while") {
            self.expect("(")?;
            let cond = self.expr()?;
            self.expect(")")?;
            StmtKind::While {
                cond,
                body: Box::new(self.stmt()?),
            }
        } else if self.eat_kw("do") {
            let body = Box::new(self.stmt()?);
            if !self.eat_kw("while") {
                return Err(self.error_here("expected `while` after the body of `do`"));
            }
            self.expect("(")?;
            let cond = self.expr()?;
            self.expect(")")?;
            self.expect(";")?;
            StmtKind::DoWhile { body, cond }
        } else if self.eat_kw("for") {
            self.expect("(")?;
            let mut init = Vec::new();
            if !self.is(";") {
                if let Some(local) = self.try_local()? {
                    init.push(local);
                } else {
                    loop {
                        let e = self.expr()?;
                        init.push(Stmt {
                            range: e.range.clone(),
                            kind: StmtKind::Expr(e),
                        });
                        if !self.eat(",") {
                            break;
                        }
                    }
                }
            }
            self.expect(";")?;
            let cond = if self.is(";") {
                None
            } else {
                Some(self.expr()?)
            };
            self.expect(";")?;
            let mut step = Vec::new();
            if !self.is(")") {
                loop {
                    step.push(self.expr()?);
                    if !self.eat(",") {
                        break;
                    }
                }
            }
            self.expect(")")?;
            StmtKind::For {
                init,
                cond,
                step,
                body: Box::new(self.stmt()?),
            }
        } else if self.eat_kw("foreach") {
            self.expect("(")?;
            let ty = if self.is_kw("var") && matches!(self.nth(1), Tok::Ident(_)) {
                self.i += 1;
                None
            } else {
                Some(self.type_ref()?)
            };
            let (name, _) = self.ident()?;
            if !self.eat_kw("in") {
                return Err(self.error_here(format!("expected `in`, found {}", self.describe())));
            }
            let collection = self.expr()?;
            self.expect(")")?;
            StmtKind::Foreach {
                ty,
                name,
                collection,
                body: Box::new(self.stmt()?),
            }
        } else if self.eat_kw("switch") {
            self.switch_stmt()?
        } else if self.eat_kw("break") {
            self.expect(";")?;
            StmtKind::Break
        } else if self.eat_kw("continue") {
            self.expect(";")?;
            StmtKind::Continue
        } else if self.eat_kw("return") {
            let value = if self.is(";") {
                None
            } else {
                Some(self.expr()?)
            };
            self.expect(";")?;
            StmtKind::Return(value)
        } else if self.eat_kw("throw") {
            let value = if self.is(";") {
                None
            } else {
                Some(self.expr()?)
            };
            self.expect(";")?;
            StmtKind::Throw(value)
        } else if self.eat_kw("try") {
            self.try_stmt()?
        } else if self.is_kw("using") && matches!(self.nth(1), Tok::Punct("(")) {
            self.i += 2;
            let decl = match self.try_local()? {
                Some(l) => l,
                None => {
                    let e = self.expr()?;
                    Stmt {
                        range: e.range.clone(),
                        kind: StmtKind::Expr(e),
                    }
                }
            };
            self.expect(")")?;
            StmtKind::Using {
                decl: Box::new(decl),
                body: Box::new(self.stmt()?),
            }
        } else if self.is_kw("using") && matches!(self.nth(1), Tok::Ident(_)) {
            // `using var x = …;`
            self.i += 1;
            let local = self
                .try_local()?
                .ok_or_else(|| self.error_here("expected a declaration after `using`"))?;
            self.expect(";")?;
            return Ok(local);
        } else if self.is_kw("else") {
            return Err(self.error_here("`else` without `if`"));
        } else if let Some(local) = self.try_local()? {
            self.expect(";")?;
            return Ok(Stmt {
                range: start..self.prev_end(),
                kind: local.kind,
            });
        } else {
            let e = self.expr()?;
            if !self.eat(";") {
                return Err(self.error_here(format!(
                    "expected `;` after the statement, found {}",
                    self.describe()
                )));
            }
            StmtKind::Expr(e)
        };
        Ok(Stmt {
            kind,
            range: start..self.prev_end(),
        })
    }

    /// A local declaration `T name [= value], …` (without the `;`), or `None` with the cursor restored.
    fn try_local(&mut self) -> Result<Option<Stmt>, ExprError> {
        let save = self.i;
        let start = self.range().start;
        if matches!(self.tok(), Tok::Ident(w) if w == "void")
            && matches!(self.nth(1), Tok::Ident(_))
            && matches!(self.nth(2), Tok::Punct("("))
        {
            return Err(local_function(start..self.toks[self.i + 1].range.end));
        }
        let ty = if self.is_kw("var") && matches!(self.nth(1), Tok::Ident(_)) {
            self.i += 1;
            None
        } else if self.eat_kw("const") {
            Some(self.type_ref()?)
        } else {
            match self.try_type() {
                Some(t) => Some(t),
                None => return Ok(None),
            }
        };
        if ty.is_some()
            && matches!(self.tok(), Tok::Ident(w) if !is_reserved(w))
            && matches!(self.nth(1), Tok::Punct("("))
        {
            return Err(local_function(start..self.range().end));
        }
        let is_decl = matches!(self.tok(), Tok::Ident(w) if !is_reserved(w))
            && matches!(self.nth(1), Tok::Punct("=" | ";" | ","))
            || matches!(self.tok(), Tok::Ident(w) if !is_reserved(w)) && self.is_kw_at(1, "in");
        if !is_decl {
            self.i = save;
            return Ok(None);
        }
        let mut decls = Vec::new();
        loop {
            let (name, r) = self.ident()?;
            let value = if self.eat("=") {
                Some(self.expr_or_array_init()?)
            } else {
                None
            };
            decls.push((name, r, value));
            if !self.eat(",") {
                break;
            }
        }
        Ok(Some(Stmt {
            kind: StmtKind::Local { ty, decls },
            range: start..self.prev_end(),
        }))
    }

    fn is_kw_at(&self, n: usize, k: &str) -> bool {
        matches!(self.nth(n), Tok::Ident(w) if w == k)
    }

    /// `string[] a = { "x", "y" };` allows a bare array initializer.
    fn expr_or_array_init(&mut self) -> Result<Expr, ExprError> {
        if self.is("{") {
            let start = self.range().start;
            self.i += 1;
            let items = self.expr_list("}")?;
            return Ok(Expr {
                kind: ExprKind::NewArray {
                    elem: None,
                    size: None,
                    items,
                },
                range: start..self.prev_end(),
            });
        }
        self.expr()
    }

    fn switch_stmt(&mut self) -> Result<StmtKind, ExprError> {
        self.expect("(")?;
        let subject = self.expr()?;
        self.expect(")")?;
        self.expect("{")?;
        let mut sections = Vec::new();
        while !self.eat("}") {
            if self.at_eof() {
                return Err(self.error_here("switch is not closed: add `}`"));
            }
            let mut labels = Vec::new();
            loop {
                if self.eat_kw("case") {
                    labels.push(Some(self.expr()?));
                    self.expect(":")?;
                } else if self.is_kw("default") && matches!(self.nth(1), Tok::Punct(":")) {
                    self.i += 2;
                    labels.push(None);
                } else {
                    break;
                }
            }
            if labels.is_empty() {
                return Err(self.error_here(format!(
                    "expected `case` or `default`, found {}",
                    self.describe()
                )));
            }
            let mut body = Vec::new();
            while !self.is("}")
                && !self.is_kw("case")
                && (!self.is_kw("default") || !matches!(self.nth(1), Tok::Punct(":")))
            {
                if self.at_eof() {
                    return Err(self.error_here("switch is not closed: add `}`"));
                }
                body.push(self.stmt()?);
            }
            sections.push(SwitchSection { labels, body });
        }
        Ok(StmtKind::Switch { subject, sections })
    }

    fn try_stmt(&mut self) -> Result<StmtKind, ExprError> {
        let body = self.block()?;
        let mut catches = Vec::new();
        while self.eat_kw("catch") {
            let (mut ty, mut name) = (None, None);
            if self.eat("(") {
                ty = Some(self.type_ref()?);
                if !self.is(")") {
                    name = Some(self.ident()?.0);
                }
                self.expect(")")?;
            }
            let filter = if self.eat_kw("when") {
                self.expect("(")?;
                let f = self.expr()?;
                self.expect(")")?;
                Some(f)
            } else {
                None
            };
            catches.push(Catch {
                ty,
                name,
                filter,
                body: self.block()?,
            });
        }
        let finally = if self.eat_kw("finally") {
            Some(self.block()?)
        } else {
            None
        };
        if catches.is_empty() && finally.is_none() {
            return Err(self.error_here("expected `catch` or `finally` after `try`"));
        }
        Ok(StmtKind::Try {
            body,
            catches,
            finally,
        })
    }

    // ----- expressions -----

    pub fn expr(&mut self) -> Result<Expr, ExprError> {
        crate::stack::guard(|| {
            self.enter()?;
            let r = self.assignment();
            self.leave();
            r
        })
    }

    fn assignment(&mut self) -> Result<Expr, ExprError> {
        if let Some(lambda) = self.try_lambda()? {
            return Ok(lambda);
        }
        let start = self.range().start;
        let left = self.conditional()?;
        let op = match self.tok() {
            Tok::Punct("=") => Some(None),
            Tok::Punct("+=") => Some(Some(BinOp::Add)),
            Tok::Punct("-=") => Some(Some(BinOp::Sub)),
            Tok::Punct("*=") => Some(Some(BinOp::Mul)),
            Tok::Punct("/=") => Some(Some(BinOp::Div)),
            Tok::Punct("%=") => Some(Some(BinOp::Rem)),
            Tok::Punct("&=") => Some(Some(BinOp::BitAnd)),
            Tok::Punct("|=") => Some(Some(BinOp::BitOr)),
            Tok::Punct("^=") => Some(Some(BinOp::BitXor)),
            Tok::Punct("<<=") => Some(Some(BinOp::Shl)),
            Tok::Punct(">>=") => Some(Some(BinOp::Shr)),
            Tok::Punct("??=") => Some(Some(BinOp::Coalesce)),
            _ => None,
        };
        let Some(op) = op else { return Ok(left) };
        if !matches!(
            left.kind,
            ExprKind::Name(_) | ExprKind::Member { .. } | ExprKind::Index { .. }
        ) {
            return Err(ExprError::syntax(
                left.range.clone(),
                "the left-hand side of an assignment must be a variable, property or indexer",
            ));
        }
        self.i += 1;
        let value = self.expr()?;
        Ok(Expr {
            kind: ExprKind::Assign {
                op,
                target: Box::new(left),
                value: Box::new(value),
            },
            range: start..self.prev_end(),
        })
    }

    fn try_lambda(&mut self) -> Result<Option<Expr>, ExprError> {
        let start = self.range().start;
        let save = self.i;
        let params = match (self.tok().clone(), self.nth(1).clone()) {
            (Tok::Ident(w), Tok::Punct("=>")) if !is_reserved(&w) => {
                self.i += 2;
                vec![(None, w)]
            }
            (Tok::Punct("("), _) => {
                // Find the matching `)` and look for `=>` after it.
                let mut depth = 0usize;
                let mut j = self.i;
                loop {
                    match &self.toks[j].tok {
                        Tok::Punct("(") => depth += 1,
                        Tok::Punct(")") => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Tok::Eof => return Ok(None),
                        _ => {}
                    }
                    j += 1;
                }
                if !matches!(self.toks.get(j + 1).map(|t| &t.tok), Some(Tok::Punct("=>"))) {
                    return Ok(None);
                }
                self.i += 1;
                let mut params = Vec::new();
                while !self.is(")") {
                    let ty = if matches!(self.nth(1), Tok::Punct(",") | Tok::Punct(")")) {
                        None
                    } else {
                        Some(self.type_ref()?)
                    };
                    let (name, _) = self.ident()?;
                    params.push((ty, name));
                    if !self.eat(",") {
                        break;
                    }
                }
                self.expect(")")?;
                self.expect("=>")?;
                params
            }
            _ => return Ok(None),
        };
        let body = if self.is("{") {
            LambdaBody::Block(self.block()?)
        } else {
            match self.expr() {
                Ok(e) => LambdaBody::Expr(Box::new(e)),
                Err(e) => {
                    self.i = save;
                    return Err(e);
                }
            }
        };
        Ok(Some(Expr {
            kind: ExprKind::Lambda { params, body },
            range: start..self.prev_end(),
        }))
    }

    fn conditional(&mut self) -> Result<Expr, ExprError> {
        let start = self.range().start;
        let cond = self.binary(0)?;
        if self.is("?") {
            self.i += 1;
            let then = self.expr()?;
            self.expect(":")?;
            let otherwise = self.expr()?;
            return Ok(Expr {
                kind: ExprKind::Conditional {
                    cond: Box::new(cond),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                },
                range: start..self.prev_end(),
            });
        }
        Ok(cond)
    }

    fn binop(&self) -> Option<(BinOp, u8)> {
        Some(match self.tok() {
            Tok::Punct("??") => (BinOp::Coalesce, 1),
            Tok::Punct("||") => (BinOp::Or, 2),
            Tok::Punct("&&") => (BinOp::And, 3),
            Tok::Punct("|") => (BinOp::BitOr, 4),
            Tok::Punct("^") => (BinOp::BitXor, 5),
            Tok::Punct("&") => (BinOp::BitAnd, 6),
            Tok::Punct("==") => (BinOp::Eq, 7),
            Tok::Punct("!=") => (BinOp::Ne, 7),
            Tok::Punct("<") => (BinOp::Lt, 8),
            Tok::Punct(">") if matches!(self.nth(1), Tok::Punct(">")) && self.adjacent(1) => {
                (BinOp::Shr, 9)
            }
            Tok::Punct(">") if matches!(self.nth(1), Tok::Punct("=")) && self.adjacent(1) => {
                (BinOp::Ge, 8)
            }
            Tok::Punct(">") => (BinOp::Gt, 8),
            Tok::Punct("<=") => (BinOp::Le, 8),
            Tok::Punct(">=") => (BinOp::Ge, 8),
            Tok::Punct("<<") => (BinOp::Shl, 9),
            Tok::Punct("+") => (BinOp::Add, 10),
            Tok::Punct("-") => (BinOp::Sub, 10),
            Tok::Punct("*") => (BinOp::Mul, 11),
            Tok::Punct("/") => (BinOp::Div, 11),
            Tok::Punct("%") => (BinOp::Rem, 11),
            _ => return None,
        })
    }

    fn adjacent(&self, n: usize) -> bool {
        self.toks[self.i + n - 1].range.end
            == self.toks[(self.i + n).min(self.toks.len() - 1)].range.start
    }

    fn binary(&mut self, min: u8) -> Result<Expr, ExprError> {
        let start = self.range().start;
        let mut left = self.unary()?;
        loop {
            // `is` and `as` sit at the relational level.
            if min <= 8 && (self.is_kw("is") || self.is_kw("as")) {
                let is = self.is_kw("is");
                self.i += 1;
                if is {
                    let pattern = self.is_pattern()?;
                    left = Expr {
                        kind: ExprKind::Is {
                            operand: Box::new(left),
                            ty: pattern,
                        },
                        range: start..self.prev_end(),
                    };
                } else {
                    let ty = self.type_ref()?;
                    left = Expr {
                        kind: ExprKind::As {
                            operand: Box::new(left),
                            ty,
                        },
                        range: start..self.prev_end(),
                    };
                }
                continue;
            }
            let Some((op, prec)) = self.binop() else {
                break;
            };
            if prec < min {
                break;
            }
            self.i += if matches!(op, BinOp::Shr) || (matches!(op, BinOp::Ge) && self.is(">")) {
                2
            } else {
                1
            };
            // `??` is right-associative; the rest are left-associative.
            let right = if op == BinOp::Coalesce {
                self.enter()?;
                let r = self.binary(prec);
                self.leave();
                r?
            } else {
                self.enter()?;
                let r = self.binary(prec + 1);
                self.leave();
                r?
            };
            left = Expr {
                kind: ExprKind::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                range: start..self.prev_end(),
            };
        }
        Ok(left)
    }

    fn is_pattern(&mut self) -> Result<IsPattern, ExprError> {
        if self.eat_kw("null") {
            return Ok(IsPattern::Null);
        }
        if self.is_kw("not") && self.is_kw_at(1, "null") {
            self.i += 2;
            return Ok(IsPattern::NotNull);
        }
        if matches!(
            self.tok(),
            Tok::Str(_) | Tok::Int { .. } | Tok::Real { .. } | Tok::Char(_)
        ) || self.is_kw("true")
            || self.is_kw("false")
        {
            return Ok(IsPattern::Const(Box::new(self.unary()?)));
        }
        let ty = self.type_ref()?;
        let binding = match self.tok() {
            Tok::Ident(w) if !is_reserved(w) && w != "when" => Some(self.ident()?.0),
            _ => None,
        };
        Ok(IsPattern::Type(ty, binding))
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let r = self.unary_inner();
        self.leave();
        r
    }

    fn unary_inner(&mut self) -> Result<Expr, ExprError> {
        let start = self.range().start;
        let op = match self.tok() {
            Tok::Punct("-") => Some(UnOp::Neg),
            Tok::Punct("+") => Some(UnOp::Plus),
            Tok::Punct("!") => Some(UnOp::Not),
            Tok::Punct("~") => Some(UnOp::Compl),
            Tok::Punct("++") => Some(UnOp::PreInc),
            Tok::Punct("--") => Some(UnOp::PreDec),
            _ => None,
        };
        if let Some(op) = op {
            self.i += 1;
            // `-2147483648` and `-9223372036854775808L` are literals in C#.
            if op == UnOp::Neg
                && let Tok::Int { value, suffix } = self.tok().clone()
            {
                let lit = match suffix {
                    IntSuffix::None if value == 2_147_483_648 => Some(Lit::Int(i32::MIN)),
                    IntSuffix::None | IntSuffix::L if value == 9_223_372_036_854_775_808 => {
                        Some(Lit::Long(i64::MIN))
                    }
                    _ => None,
                };
                if let Some(lit) = lit {
                    self.i += 1;
                    return self.postfix(Expr {
                        kind: ExprKind::Lit(lit),
                        range: start..self.prev_end(),
                    });
                }
            }
            let operand = self.unary()?;
            return Ok(Expr {
                kind: ExprKind::Unary {
                    op,
                    operand: Box::new(operand),
                },
                range: start..self.prev_end(),
            });
        }
        if self.is("(")
            && let Some(cast) = self.try_cast()?
        {
            return Ok(cast);
        }
        let primary = self.primary()?;
        self.postfix(primary)
    }

    /// `(T)x` versus `(x)`: C#'s rule — a cast when the parenthesised part is a type and either it is a predefined
    /// type keyword or the next token is `~ ! ( identifier literal` or a keyword other than `as`/`is`.
    fn try_cast(&mut self) -> Result<Option<Expr>, ExprError> {
        let start = self.range().start;
        let save = self.i;
        self.i += 1;
        let Some(ty) = self.try_type() else {
            self.i = save;
            return Ok(None);
        };
        if !self.eat(")") {
            self.i = save;
            return Ok(None);
        }
        let predefined = PREDEFINED.contains(&ty.name.as_str());
        let follows = match self.tok() {
            Tok::Punct("~" | "!" | "(") => true,
            Tok::Ident(w) => w != "as" && w != "is",
            Tok::Str(_) | Tok::Int { .. } | Tok::Real { .. } | Tok::Char(_) | Tok::Interp(_) => {
                true
            }
            Tok::Punct("-" | "+") => predefined,
            _ => false,
        };
        if !(follows
            || predefined && !matches!(self.tok(), Tok::Punct(")" | ";" | "," | ".") | Tok::Eof))
        {
            self.i = save;
            return Ok(None);
        }
        let operand = self.unary()?;
        Ok(Some(Expr {
            kind: ExprKind::Cast {
                ty,
                operand: Box::new(operand),
            },
            range: start..self.prev_end(),
        }))
    }

    fn expr_list(&mut self, close: &str) -> Result<Vec<Expr>, ExprError> {
        let mut items = Vec::new();
        while !self.eat(close) {
            if self.at_eof() {
                return Err(self.error_here(format!("expected `{close}`")));
            }
            items.push(self.expr_or_array_init()?);
            if !self.eat(",") {
                self.expect(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn args(&mut self) -> Result<Vec<Arg>, ExprError> {
        let mut args = Vec::new();
        while !self.eat(")") {
            if self.at_eof() {
                return Err(self.error_here("argument list is not closed: add `)`"));
            }
            let name = match (self.tok(), self.nth(1)) {
                (Tok::Ident(w), Tok::Punct(":")) if !is_reserved(w) => {
                    let w = w.clone();
                    self.i += 2;
                    Some(w)
                }
                _ => None,
            };
            let arg_start = self.range().start;
            let arg = if self.is_kw("out") || self.is_kw("ref") {
                self.i += 1;
                let declare = if self.is_kw("var") && matches!(self.nth(1), Tok::Ident(_)) {
                    self.i += 1;
                    Some(None)
                } else if matches!(self.nth(1), Tok::Ident(_))
                    || matches!(self.nth(1), Tok::Punct("<" | "[" | "?" | "."))
                        && !matches!(self.nth(1), Tok::Punct("."))
                {
                    let save = self.i;
                    match self.try_type() {
                        Some(t) if matches!(self.tok(), Tok::Ident(_)) => Some(Some(t)),
                        _ => {
                            self.i = save;
                            None
                        }
                    }
                } else {
                    None
                };
                match declare {
                    Some(ty) => {
                        let (n, r) = self.ident()?;
                        Arg {
                            name,
                            out: Some(OutArg::Declare(ty, n.clone())),
                            value: Expr {
                                kind: ExprKind::Name(n),
                                range: r,
                            },
                        }
                    }
                    None => {
                        let value = self.unary()?;
                        Arg {
                            name,
                            out: Some(OutArg::Existing),
                            value,
                        }
                    }
                }
            } else {
                Arg {
                    name,
                    out: None,
                    value: self.expr()?,
                }
            };
            let _ = arg_start;
            args.push(arg);
            if !self.eat(",") {
                self.expect(")")?;
                break;
            }
        }
        Ok(args)
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ExprError> {
        let start = e.range.start;
        let mut steps = 0usize;
        loop {
            steps += 1;
            if steps > 4 * MAX_DEPTH {
                return Err(ExprError::limit(
                    self.range(),
                    "member access chain is too long",
                ));
            }
            if self.is(".") {
                self.i += 1;
                let (name, name_range) = self.member_name()?;
                let type_args = if self.is("<") {
                    self.expr_type_args().unwrap_or_default()
                } else {
                    Vec::new()
                };
                e = Expr {
                    kind: ExprKind::Member {
                        target: Box::new(e),
                        name,
                        name_range,
                        type_args,
                    },
                    range: start..self.prev_end(),
                };
            } else if self.is("(") {
                self.i += 1;
                let args = self.args()?;
                e = Expr {
                    kind: ExprKind::Call {
                        callee: Box::new(e),
                        args,
                    },
                    range: start..self.prev_end(),
                };
            } else if self.is("[") {
                self.i += 1;
                let args = self.expr_list("]")?;
                e = Expr {
                    kind: ExprKind::Index {
                        target: Box::new(e),
                        args,
                    },
                    range: start..self.prev_end(),
                };
            } else if self.is("++") || self.is("--") {
                let op = if self.is("++") {
                    UnOp::PostInc
                } else {
                    UnOp::PostDec
                };
                self.i += 1;
                e = Expr {
                    kind: ExprKind::Unary {
                        op,
                        operand: Box::new(e),
                    },
                    range: start..self.prev_end(),
                };
            } else if self.is("!") && matches!(self.nth(1), Tok::Punct("." | "[" | ")" | ";" | ","))
            {
                // The null-forgiving `x!` has no run-time effect.
                self.i += 1;
            } else if self.is("?.") || self.is("?[") {
                let index = self.is("?[");
                let hole_start = self.range().start;
                self.i += 1;
                let hole = Expr {
                    kind: ExprKind::CondTarget,
                    range: start..hole_start,
                };
                let first = if index {
                    let args = self.expr_list("]")?;
                    Expr {
                        kind: ExprKind::Index {
                            target: Box::new(hole),
                            args,
                        },
                        range: start..self.prev_end(),
                    }
                } else {
                    let (name, name_range) = self.member_name()?;
                    let type_args = if self.is("<") {
                        self.expr_type_args().unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    Expr {
                        kind: ExprKind::Member {
                            target: Box::new(hole),
                            name,
                            name_range,
                            type_args,
                        },
                        range: start..self.prev_end(),
                    }
                };
                self.enter()?;
                let chain = self.postfix(first);
                self.leave();
                let chain = chain?;
                return Ok(Expr {
                    kind: ExprKind::CondAccess {
                        target: Box::new(e),
                        chain: Box::new(chain),
                    },
                    range: start..self.prev_end(),
                });
            } else {
                return Ok(e);
            }
        }
    }

    fn member_name(&mut self) -> Result<(String, Range), ExprError> {
        match self.tok().clone() {
            Tok::Ident(w) => {
                let r = self.range();
                self.i += 1;
                Ok((w, r))
            }
            _ => Err(self.error_here(format!(
                "expected a member name after `.`, found {}",
                self.describe()
            ))),
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let start = self.range().start;
        let r = self.range();
        let lit = |kind| {
            Ok(Expr {
                kind,
                range: r.clone(),
            })
        };
        match self.tok().clone() {
            Tok::Int { value, suffix } => {
                self.i += 1;
                let l = match suffix {
                    IntSuffix::None if value <= i32::MAX as u64 => Lit::Int(value as i32),
                    IntSuffix::None | IntSuffix::L if value <= i64::MAX as u64 => {
                        Lit::Long(value as i64)
                    }
                    _ => Lit::UInt(value),
                };
                lit(ExprKind::Lit(l))
            }
            Tok::Real { value, suffix } => {
                self.i += 1;
                lit(ExprKind::Lit(match suffix {
                    RealSuffix::M => Lit::Decimal(value),
                    // Deviation: `float` is computed as `double` (so `0.1f` prints as 0.1, not as the
                    // nearest float's digits); policies use float literals only as plain numbers.
                    RealSuffix::F => Lit::Double(value),
                    _ => Lit::Double(value),
                }))
            }
            Tok::Char(c) => {
                self.i += 1;
                lit(ExprKind::Lit(Lit::Char(c)))
            }
            Tok::Str(s) => {
                self.i += 1;
                lit(ExprKind::Lit(Lit::Str(s)))
            }
            Tok::Interp(pieces) => {
                self.i += 1;
                let mut parts = Vec::new();
                for piece in pieces {
                    match piece {
                        InterpPiece::Text(t) => parts.push(InterpPart::Text(t)),
                        InterpPiece::Hole {
                            code,
                            alignment,
                            format,
                        } => {
                            if self.src[code.clone()].trim().is_empty() {
                                return Err(ExprError::syntax(code, "empty interpolation hole"));
                            }
                            self.enter()?;
                            let mut sub = Parser::new(self.src, code)?;
                            sub.depth = self.depth;
                            let expr = sub.expr();
                            self.leave();
                            let expr = expr?;
                            sub.expect_eof()?;
                            let alignment = match alignment {
                                Some(a) => Some(
                                    self.src[a.clone()].trim().parse::<i32>().map_err(|_| {
                                        ExprError::syntax(a, "alignment must be a constant integer")
                                    })?,
                                ),
                                None => None,
                            };
                            parts.push(InterpPart::Hole {
                                expr,
                                alignment,
                                format,
                            });
                        }
                    }
                }
                lit(ExprKind::Interp(parts))
            }
            Tok::Punct("(") => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(")")?;
                // Keep the parentheses in the range so that explain shows what the user wrote.
                Ok(Expr {
                    kind: e.kind,
                    range: start..self.prev_end(),
                })
            }
            Tok::Ident(w) => match w.as_str() {
                "true" | "false" => {
                    self.i += 1;
                    lit(ExprKind::Lit(Lit::Bool(w == "true")))
                }
                "null" => {
                    self.i += 1;
                    lit(ExprKind::Lit(Lit::Null))
                }
                "new" => {
                    self.i += 1;
                    self.new_expr(start)
                }
                "default" => {
                    self.i += 1;
                    let ty = if self.eat("(") {
                        let t = self.type_ref()?;
                        self.expect(")")?;
                        Some(t)
                    } else {
                        None
                    };
                    Ok(Expr {
                        kind: ExprKind::Default(ty),
                        range: start..self.prev_end(),
                    })
                }
                "typeof" => {
                    self.i += 1;
                    self.expect("(")?;
                    let t = self.type_ref()?;
                    self.expect(")")?;
                    Ok(Expr {
                        kind: ExprKind::TypeOf(t),
                        range: start..self.prev_end(),
                    })
                }
                "nameof" if matches!(self.nth(1), Tok::Punct("(")) => {
                    self.i += 2;
                    let e = self.expr()?;
                    self.expect(")")?;
                    let name = match &e.kind {
                        ExprKind::Name(n) => n.clone(),
                        ExprKind::Member { name, .. } => name.clone(),
                        _ => return Err(ExprError::syntax(e.range, "nameof needs a name")),
                    };
                    Ok(Expr {
                        kind: ExprKind::NameOf(name),
                        range: start..self.prev_end(),
                    })
                }
                "throw" => {
                    self.i += 1;
                    let e = self.expr()?;
                    Ok(Expr {
                        kind: ExprKind::Throw(Box::new(e)),
                        range: start..self.prev_end(),
                    })
                }
                "checked" if matches!(self.nth(1), Tok::Punct("(")) => Err(ExprError::unsupported(
                    self.range(),
                    "`checked(…)` (arithmetic that throws on overflow) is not supported yet",
                )),
                "unchecked" if matches!(self.nth(1), Tok::Punct("(")) => {
                    self.i += 2;
                    let e = self.expr()?;
                    self.expect(")")?;
                    Ok(Expr {
                        kind: e.kind,
                        range: start..self.prev_end(),
                    })
                }
                "await" | "dynamic" => {
                    Err(self.error_here(format!("`{w}` is not supported in policy expressions")))
                }
                "this" | "base" => {
                    Err(self.error_here(format!("`{w}` does not exist in a policy expression")))
                }
                w if PREDEFINED.contains(&w) => {
                    self.i += 1;
                    Ok(Expr {
                        kind: ExprKind::TypeKeyword(w.to_string()),
                        range: r,
                    })
                }
                w if is_reserved(w) => Err(self.error_here(format!("unexpected keyword `{w}`"))),
                _ => {
                    self.i += 1;
                    let name = Expr {
                        kind: ExprKind::Name(w.clone()),
                        range: r.clone(),
                    };
                    if self.is("<")
                        && let Some(type_args) = self.expr_type_args()
                    {
                        // A generic method called without a receiver is not valid here, but `List<int>` as a
                        // type name in a member access (`List<int>.Empty`) is: keep the arguments on the name.
                        return Ok(Expr {
                            kind: ExprKind::Member {
                                target: Box::new(Expr {
                                    kind: ExprKind::Name(String::new()),
                                    range: r.start..r.start,
                                }),
                                name: w,
                                name_range: r,
                                type_args,
                            },
                            range: start..self.prev_end(),
                        });
                    }
                    Ok(name)
                }
            },
            _ => Err(self.error_here(format!("expected an expression, found {}", self.describe()))),
        }
    }

    fn new_expr(&mut self, start: usize) -> Result<Expr, ExprError> {
        // `new { a = 1 }`
        if self.is("{") {
            self.i += 1;
            let mut members = Vec::new();
            while !self.eat("}") {
                if self.at_eof() {
                    return Err(self.error_here("object initializer is not closed: add `}`"));
                }
                let e = self.expr()?;
                let (name, value) = match e.kind {
                    ExprKind::Assign {
                        op: None,
                        target,
                        value,
                    } => match target.kind {
                        ExprKind::Name(n) => (n, *value),
                        _ => return Err(ExprError::syntax(target.range, "expected a member name")),
                    },
                    ExprKind::Member { ref name, .. } => (name.clone(), e.clone()),
                    ExprKind::Name(ref n) => (n.clone(), e.clone()),
                    _ => {
                        return Err(ExprError::syntax(
                            e.range,
                            "anonymous type members need a name: `name = value`",
                        ));
                    }
                };
                members.push((name, value));
                if !self.eat(",") {
                    self.expect("}")?;
                    break;
                }
            }
            return Ok(Expr {
                kind: ExprKind::AnonObject(members),
                range: start..self.prev_end(),
            });
        }
        // `new [] { … }`
        if self.is("[") && matches!(self.nth(1), Tok::Punct("]")) {
            self.i += 2;
            self.expect("{")?;
            let items = self.expr_list("}")?;
            return Ok(Expr {
                kind: ExprKind::NewArray {
                    elem: None,
                    size: None,
                    items,
                },
                range: start..self.prev_end(),
            });
        }
        let mut ty = self.type_ref_no_array()?;
        if self.is("[") {
            // `new T[n]` or `new T[] { … }`
            self.i += 1;
            let size = if self.is("]") {
                None
            } else {
                Some(Box::new(self.expr()?))
            };
            self.expect("]")?;
            while self.is("[") && matches!(self.nth(1), Tok::Punct("]")) {
                self.i += 2;
                ty.array += 1;
            }
            let items = if self.eat("{") {
                self.expr_list("}")?
            } else {
                Vec::new()
            };
            if size.is_none()
                && items.is_empty()
                && !self.src[start..self.prev_end()].ends_with('}')
            {
                return Err(self.error_here("array creation needs a size or an initializer"));
            }
            return Ok(Expr {
                kind: ExprKind::NewArray {
                    elem: Some(ty),
                    size,
                    items,
                },
                range: start..self.prev_end(),
            });
        }
        let args = if self.eat("(") {
            self.args()?
        } else {
            Vec::new()
        };
        let init = if self.is("{") {
            Some(self.initializer()?)
        } else {
            None
        };
        if init.is_none() && !self.src[start..self.prev_end()].ends_with(')') {
            return Err(self.error_here("expected `(` or `{` after the type in `new`"));
        }
        Ok(Expr {
            kind: ExprKind::New { ty, args, init },
            range: start..self.prev_end(),
        })
    }

    fn type_ref_no_array(&mut self) -> Result<TypeRef, ExprError> {
        let start = self.range().start;
        let mut name = match self.tok().clone() {
            Tok::Ident(w) if PREDEFINED.contains(&w.as_str()) || !is_reserved(&w) => {
                self.i += 1;
                w
            }
            _ => {
                return Err(self.error_here(format!(
                    "expected a type after `new`, found {}",
                    self.describe()
                )));
            }
        };
        while self.is(".") && matches!(self.nth(1), Tok::Ident(_)) {
            self.i += 1;
            name.push('.');
            name.push_str(&self.ident()?.0);
        }
        let args = if self.is("<") {
            self.type_args()?.unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(TypeRef {
            name,
            args,
            array: 0,
            nullable: false,
            range: start..self.prev_end(),
        })
    }

    fn initializer(&mut self) -> Result<Init, ExprError> {
        self.expect("{")?;
        if self.eat("}") {
            return Ok(Init::Collection(Vec::new()));
        }
        if self.is("[") {
            let mut items = Vec::new();
            while !self.eat("}") {
                self.expect("[")?;
                let key = self.expr()?;
                self.expect("]")?;
                self.expect("=")?;
                let value = self.expr_or_array_init()?;
                items.push((key, value));
                if !self.eat(",") {
                    self.expect("}")?;
                    break;
                }
            }
            return Ok(Init::Indexed(items));
        }
        if matches!(self.tok(), Tok::Ident(w) if !is_reserved(w))
            && matches!(self.nth(1), Tok::Punct("="))
        {
            let mut items = Vec::new();
            while !self.eat("}") {
                let (name, r) = self.ident()?;
                self.expect("=")?;
                let value = self.expr_or_array_init()?;
                items.push((name, r, value));
                if !self.eat(",") {
                    self.expect("}")?;
                    break;
                }
            }
            return Ok(Init::Object(items));
        }
        let mut items = Vec::new();
        while !self.eat("}") {
            if self.at_eof() {
                return Err(self.error_here("initializer is not closed: add `}`"));
            }
            if self.eat("{") {
                items.push(self.expr_list("}")?);
            } else {
                items.push(vec![self.expr()?]);
            }
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(Init::Collection(items))
    }
}

/// C# local functions (`int Twice(int x) => …;`) are valid in APIM but not translated yet.
fn local_function(range: Range) -> ExprError {
    ExprError::unsupported(
        range,
        "local functions are not supported yet; inline the code",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Expr {
        parse_expression(s, 0..s.len()).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn generic_call_and_comparison() {
        assert!(matches!(
            e("a.As<JObject>(true)").kind,
            ExprKind::Call { .. }
        ));
        assert!(matches!(
            e("a < b && c > d").kind,
            ExprKind::Binary { op: BinOp::And, .. }
        ));
    }

    #[test]
    fn casts_and_parens() {
        assert!(matches!(e("(string)x").kind, ExprKind::Cast { .. }));
        assert!(matches!(e("(x) + 1").kind, ExprKind::Binary { .. }));
        assert!(matches!(
            e("(IResponse)context.Variables[\"r\"]").kind,
            ExprKind::Cast { .. }
        ));
        assert!(matches!(e("(int)-1").kind, ExprKind::Cast { .. }));
    }

    #[test]
    fn conditional_access_and_lambda() {
        assert!(matches!(
            e("a?.b.c ?? d").kind,
            ExprKind::Binary {
                op: BinOp::Coalesce,
                ..
            }
        ));
        assert!(matches!(
            e("xs.Where(x => x > 1)").kind,
            ExprKind::Call { .. }
        ));
        assert!(matches!(e("b ? x : y").kind, ExprKind::Conditional { .. }));
    }

    #[test]
    fn statements() {
        let s = "int n; if (int.TryParse(\"1\", out n)) { return n; } foreach (var x in xs) { } return 0;";
        assert_eq!(parse_block(s, 0..s.len()).expect("parses").len(), 4);
        let s = "string[] a = {\"x\"}; Dictionary<string, int> d = new Dictionary<string, int>(); return a[0];";
        assert_eq!(parse_block(s, 0..s.len()).expect("parses").len(), 3);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let s = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_expression(&s, 0..s.len()).is_err());
        let chain = vec!["a == 1"; 300].join(" && ");
        assert!(parse_expression(&chain, 0..chain.len()).is_ok());
    }
}
