"""Offline type check of Bicep templates against Azure's published Bicep type definitions.

``az bicep build`` needs a download this workplace cannot make, and pycep only parses (it cannot
tell ``value: 'x'`` from ``value: x``), so the test suite would pass a template that says
``Microsoft.Web/sites@2099-01-01`` or ``serverFarmIdd:``. This module reads a template with a
small parser of its own and checks every resource it declares against the type data copied into
``bicep_types/`` (Azure/bicep-types-az, see the README there):

* the resource type and api-version exist in the type data (Bicep's BCP081);
* every property set, recursively through nested objects and arrays, exists in the type
  (BCP037/BCP089; names are case-sensitive, as in Bicep), is not read-only (flag 2, BCP073),
  and its value has the right primitive type: string, int, bool, object, array, or one of the
  literals of a closed string union (BCP036/BCP088);
* required properties (flag 1) of an object written out in full are present (BCP035);
* discriminated objects (``Microsoft.Web/sites/config`` by ``name``, ...) use a known variant
  and that variant's properties;
* ``existing`` resources set only ``name``, ``parent`` and ``scope``; a read-only resource type
  is only referenced as ``existing``;
* child resources, nested (``resource x 'config' = ...`` inside a parent, taking the parent's
  type and api-version) or with ``parent:``, loops (``[for ...]``) and conditions (``if (...)``);
* local modules: every key of ``params`` is a parameter of the module file, required
  parameters are given, and values match the parameter's declared type and ``@allowed`` list.

What it does not know, and therefore skips (Bicep itself checks these at build time, in CI):

* values whose type cannot be known without evaluating the template: references to resource
  or module properties and outputs (``site.properties.x``, ``mod.outputs.y``), indexing, loop
  variables, lambdas, ``??``, spreads, and functions whose result type depends on their
  arguments (``concat``, ``union``, ``take``, ``first``, ``json``, ``reference``, ...).
  Parameters count with their declared type, variables with their value, and both branches of
  a ``cond ? a : b`` are checked;
* ``null``, which Bicep accepts for an optional property;
* string length and pattern constraints, integer bounds, resource name rules, and which deployment
  scopes a resource type supports (only "read-only type" is checked);
* the properties of a discriminated object whose discriminator is not a literal: any variant's
  properties are accepted, and required properties are not checked;
* registry modules (``br:``/``ts:``), user-defined types, ``import``, ``func`` and outputs.

Run ``python -m tests.infra.bicep_typecheck [files or folders]`` (default: infra/) to print
the findings; the tests in test_bicep_types.py run the same check.
"""

from __future__ import annotations

import difflib
import functools
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

TYPES_DIR = Path(__file__).resolve().parent / "bicep_types"
REPO_ROOT = Path(__file__).resolve().parents[2]

REQUIRED, READ_ONLY = 1, 2  # property flags of the type data; 4 write-only, 8 deploy-time constant
RESOURCE_KEYWORDS = {"parent", "scope", "dependsOn"}  # Bicep's own keys in a resource body
EXISTING_KEYS = {"name", "parent", "scope"}
MODULE_KEYS = {"name", "params", "scope", "dependsOn"}
PRIMITIVES = {"string", "int", "bool", "object", "array"}


class BicepSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line, self.message = line, message


# --- tokens ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # id, int, str (literal string), istr (string with ${...}), op, nl, eof
    text: str  # the name, digits, operator, or decoded string
    line: int


OPERATORS = ["...", "??", "?.", "?[", "!=", "!~", "==", "=~", ">=", "<=", "&&", "||", "=>", "::",
             "{", "}", "[", "]", "(", ")", ",", ":", ".", "?", "!", "=", "<", ">", "+", "-", "*",
             "/", "%", "@", "|"]
ESCAPES = {"'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


def tokenize(src: str) -> list[Token]:
    tokens: list[Token] = []
    i, line = 0, 1
    while i < len(src):
        c = src[i]
        if c == "\n":
            tokens.append(Token("nl", "\n", line))
            i, line = i + 1, line + 1
        elif c in " \t\r":
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = len(src) if end < 0 else end
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            if end < 0:
                raise BicepSyntaxError(line, "unterminated /* comment")
            if "\n" in src[i:end]:  # a comment over several lines still ends a statement
                tokens.append(Token("nl", "\n", line))
                line += src.count("\n", i, end)
            i = end + 2
        elif c == "'":
            token, i = _read_string(src, i, line)
            tokens.append(token)
            line += token.text.count("\n")
        elif c.isdigit():
            j = i
            while j < len(src) and src[j].isdigit():
                j += 1
            tokens.append(Token("int", src[i:j], line))
            i = j
        elif c.isalpha() or c == "_":
            j = i
            while j < len(src) and (src[j].isalnum() or src[j] == "_"):
                j += 1
            tokens.append(Token("id", src[i:j], line))
            i = j
        else:
            op = next((o for o in OPERATORS if src.startswith(o, i)), None)
            if op is None:
                raise BicepSyntaxError(line, f"unexpected character {c!r}")
            tokens.append(Token("op", op, line))
            i += len(op)
    tokens.append(Token("eof", "", line))
    return tokens


def _read_string(src: str, i: int, line: int) -> tuple[Token, int]:
    if src.startswith("'''", i):  # multi-line string: verbatim, no escapes, no interpolation
        end = src.find("'''", i + 3)
        if end < 0:
            raise BicepSyntaxError(line, "unterminated ''' string")
        return Token("str", src[i + 3:end], line), end + 3
    out: list[str] = []
    interpolated = False
    i += 1
    while True:
        if i >= len(src) or src[i] == "\n":
            raise BicepSyntaxError(line, "unterminated string")
        c = src[i]
        if c == "'":
            return Token("istr" if interpolated else "str", "".join(out), line), i + 1
        if c == "\\":
            nxt = src[i + 1:i + 2]
            if nxt == "u" and src[i + 2:i + 3] == "{":
                end = src.index("}", i)
                out.append(chr(int(src[i + 3:end], 16)))
                i = end + 1
                continue
            if nxt not in ESCAPES:
                raise BicepSyntaxError(line, f"unknown escape \\{nxt}")
            out.append(ESCAPES[nxt])
            i += 2
        elif src.startswith("${", i):
            interpolated = True
            end = _end_of_interpolation(src, i + 2, line)
            out.append(src[i:end])
            i = end
        else:
            out.append(c)
            i += 1


def _end_of_interpolation(src: str, i: int, line: int) -> int:
    depth = 1
    while depth:
        if i >= len(src):
            raise BicepSyntaxError(line, "unterminated ${...}")
        if src[i] == "'":
            i = _read_string(src, i, line)[1]
            continue
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        i += 1
    return i


# --- syntax tree -----------------------------------------------------------------------------

@dataclass
class Node:
    line: int


@dataclass
class Lit(Node):  # 'text', 12, true, false, null
    value: Any


@dataclass
class Interp(Node):  # 'text ${expr}': a string whose value is known only at deployment
    text: str


@dataclass
class Prop(Node):
    key: str | None  # None: an interpolated key ('${id}': ...) or a spread (...expr)
    value: Node


@dataclass
class Obj(Node):
    props: list[Prop]
    resources: list[Resource] = field(default_factory=list)
    spread: bool = False


@dataclass
class Arr(Node):
    items: list[Node]


@dataclass
class For(Node):  # [for x in xs: body] or [for (x, i) in xs: if (c) body]
    names: list[str]
    body: Node


@dataclass
class Cond(Node):  # if (c) body, in a resource or module declaration
    body: Node


@dataclass
class Ref(Node):
    name: str


@dataclass
class Call(Node):
    name: str  # sys./az. prefix dropped
    args: list[Node]


@dataclass
class Member(Node):  # target.name, target.?name, target::name, target.fn(...)
    target: Node
    name: str


@dataclass
class Ternary(Node):
    then: Node
    otherwise: Node


@dataclass
class Op(Node):  # binary, unary, index, lambda: only the operator matters here
    op: str


@dataclass
class Resource(Node):
    symbol: str
    type_text: str
    existing: bool
    value: Node  # Obj, Cond or For around an Obj


@dataclass
class Module(Node):
    symbol: str
    path: str
    value: Node


@dataclass
class Param(Node):
    name: str
    prim: str | None  # string/int/bool/object/array, None for user-defined or resource types
    nullable: bool
    has_default: bool
    allowed: list[Any] | None


@dataclass
class Template:
    params: dict[str, Param] = field(default_factory=dict)
    variables: dict[str, Node] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)


def body_of(value: Node) -> Obj | None:
    """The object of a resource or module, past `if (...)` and `[for ...]`."""
    while isinstance(value, Cond | For):
        value = value.body
    return value if isinstance(value, Obj) else None


# --- parser ----------------------------------------------------------------------------------

BINARY_LEVELS = [["??"], ["||"], ["&&"], ["==", "!=", "=~", "!~"], ["<", "<=", ">", ">="], ["+", "-"],
                 ["*", "/", "%"]]
SKIPPED_STATEMENTS = {"type", "func", "import", "extension", "provider", "assert", "using", "extends"}


class Parser:
    def __init__(self, src: str) -> None:
        self.toks = tokenize(src)
        self.pos = 0
        self.newlines_ignored = [False]  # inside (...) a newline does not end anything

    # -- token access --

    def peek(self) -> Token:
        if self.newlines_ignored[-1]:
            self.skip_newlines()
        return self.toks[self.pos]

    def next(self) -> Token:
        tok = self.peek()
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok.kind in ("op", "id") and tok.text == text

    def expect(self, text: str) -> Token:
        tok = self.next()
        if tok.text != text or tok.kind not in ("op", "id"):
            raise BicepSyntaxError(tok.line, f"expected {text!r}, found {tok.text or tok.kind!r}")
        return tok

    def expect_kind(self, *kinds: str) -> Token:
        tok = self.next()
        if tok.kind not in kinds:
            raise BicepSyntaxError(tok.line, f"expected {' or '.join(kinds)}, found {tok.text or tok.kind!r}")
        return tok

    def skip_newlines(self) -> None:
        while self.toks[self.pos].kind == "nl":
            self.pos += 1

    def skip_statement(self) -> None:
        depth = 0
        while True:
            tok = self.toks[self.pos]
            if tok.kind == "eof" or (tok.kind == "nl" and depth == 0):
                return
            if tok.kind == "op" and tok.text in "([{":
                depth += 1
            elif tok.kind == "op" and tok.text in ")]}":
                depth -= 1
            self.pos += 1

    # -- statements --

    def template(self) -> Template:
        doc = Template()
        decorators: list[Node] = []
        while True:
            self.skip_newlines()
            tok = self.next()
            if tok.kind == "eof":
                return doc
            if tok.text == "@":
                decorators.append(self.postfix())
                continue
            if tok.kind != "id":
                raise BicepSyntaxError(tok.line, f"expected a declaration, found {tok.text!r}")
            if tok.text == "targetScope":
                self.expect("=")
                self.expr()
            elif tok.text == "metadata":
                self.expect_kind("id")
                self.expect("=")
                self.expr()
            elif tok.text == "param":
                name = self.expect_kind("id").text
                prim, nullable = self.type_expr()
                default = None
                if self.at("="):
                    self.next()
                    default = self.expr()
                doc.params[name] = Param(tok.line, name, prim, nullable, default is not None, allowed_values(decorators))
            elif tok.text == "var":
                name = self.expect_kind("id").text
                if not self.at("="):
                    self.type_expr()
                self.expect("=")
                doc.variables[name] = self.expr()
            elif tok.text == "output":
                self.expect_kind("id")
                self.type_expr()
                self.expect("=")
                self.expr()
            elif tok.text == "resource":
                doc.resources.append(self.resource(tok.line))
            elif tok.text == "module":
                symbol = self.expect_kind("id").text
                path = self.expect_kind("str").text
                self.expect("=")
                doc.modules.append(Module(tok.line, symbol, path, self.declaration_value()))
            elif tok.text in SKIPPED_STATEMENTS:
                self.skip_statement()
            else:
                raise BicepSyntaxError(tok.line, f"unknown declaration {tok.text!r}")
            decorators = []
            end = self.toks[self.pos]
            if end.kind not in ("nl", "eof"):
                raise BicepSyntaxError(end.line, f"expected a new line, found {end.text!r}")

    def resource(self, line: int) -> Resource:
        symbol = self.expect_kind("id").text
        type_text = self.expect_kind("str").text
        existing = self.at("existing")
        if existing:
            self.next()
        self.expect("=")
        return Resource(line, symbol, type_text, existing, self.declaration_value())

    def declaration_value(self) -> Node:
        if self.at("if"):
            return self.condition()
        return self.expr()

    def condition(self) -> Cond:
        line = self.expect("if").line
        self.parenthesized()
        return Cond(line, self.expr())

    def type_expr(self) -> tuple[str | None, bool]:
        """A declared type: (primitive or None, nullable). Unions of literals count as their primitive."""
        prims = {self.type_member()}
        while self.at("|"):
            self.next()
            prims.add(self.type_member())
        nullable = "null" in prims
        if self.at("?"):
            self.next()
            nullable = True
        prims.discard("null")
        prim = prims.pop() if len(prims) == 1 else None
        return prim, nullable

    def type_member(self) -> str | None:
        tok = self.next()
        prim: str | None
        if tok.kind in ("str", "istr"):
            prim = "string"
        elif tok.kind == "int" or tok.text == "-":
            if tok.text == "-":
                self.expect_kind("int")
            prim = "int"
        elif tok.text in ("true", "false"):
            prim = "bool"
        elif tok.text == "null":
            prim = "null"
        elif tok.text == "{":
            self.pos -= 1
            self.skip_balanced("{", "}")
            prim = "object"
        elif tok.text == "(":
            self.newlines_ignored.append(True)
            prim = self.type_expr()[0]
            self.expect(")")
            self.newlines_ignored.pop()
        elif tok.text == "resource":
            self.expect_kind("str")
            prim = None
        elif tok.kind == "id":
            prim = tok.text if tok.text in PRIMITIVES else None
            while self.at(".") or self.at("<"):
                if self.next().text == "<":
                    self.pos -= 1
                    self.skip_balanced("<", ">")
                else:
                    self.expect_kind("id")
            if tok.text in ("sys", "az"):
                prim = None
        else:
            raise BicepSyntaxError(tok.line, f"expected a type, found {tok.text!r}")
        while self.toks[self.pos].text == "[" and self.toks[self.pos + 1].text == "]":
            self.pos += 2
            prim = "array"
        return prim

    def skip_balanced(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            tok = self.toks[self.pos]
            if tok.kind == "eof":
                raise BicepSyntaxError(tok.line, f"unclosed {open_!r}")
            self.pos += 1
            if tok.kind == "op" and tok.text == open_:
                depth += 1
            elif tok.kind == "op" and tok.text == close:
                depth -= 1
                if depth == 0:
                    return

    # -- expressions --

    def expr(self) -> Node:
        node = self.binary(0)
        if self.at("?"):
            self.next()
            self.newlines_ignored.append(True)
            then = self.expr()
            self.expect(":")
            self.newlines_ignored.pop()
            return Ternary(node.line, then, self.expr())
        return node

    def binary(self, level: int) -> Node:
        if level == len(BINARY_LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().text in BINARY_LEVELS[level]:
            op = self.next().text
            self.binary(level + 1)
            node = Op(node.line, op)
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("!", "-"):
            self.next()
            operand = self.unary()
            if tok.text == "-" and isinstance(operand, Lit) and isinstance(operand.value, int):
                return Lit(tok.line, -operand.value)
            return Op(tok.line, tok.text)
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            tok = self.toks[self.pos]  # a postfix operator never follows a newline
            if tok.kind != "op":
                return node
            if tok.text in (".", "?.", "::"):
                self.pos += 1
                name = self.expect_kind("id").text
                if self.toks[self.pos].text == "(":
                    args = self.arguments()
                    if isinstance(node, Ref) and node.name in ("sys", "az"):
                        node = Call(node.line, name, args)
                    else:
                        node = Member(node.line, node, name + "()")
                else:
                    node = Member(node.line, node, name)
            elif tok.text in ("[", "?["):
                self.pos += 1
                self.newlines_ignored.append(True)
                self.expr()
                self.expect("]")
                self.newlines_ignored.pop()
                node = Op(node.line, "[]")
            elif tok.text == "!":  # non-null assertion
                self.pos += 1
            else:
                return node

    def arguments(self) -> list[Node]:
        self.expect("(")
        self.newlines_ignored.append(True)
        args = []
        while not self.at(")"):
            args.append(self.expr())
            if not self.at(")"):
                self.expect(",")
        self.next()
        self.newlines_ignored.pop()
        return args

    def parenthesized(self) -> Node:
        self.expect("(")
        self.newlines_ignored.append(True)
        node = self.expr()
        self.expect(")")
        self.newlines_ignored.pop()
        return node

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "int":
            self.next()
            return Lit(tok.line, int(tok.text))
        if tok.kind == "str":
            self.next()
            return Lit(tok.line, tok.text)
        if tok.kind == "istr":
            self.next()
            return Interp(tok.line, tok.text)
        if tok.kind == "id":
            self.next()
            if tok.text in ("true", "false"):
                return Lit(tok.line, tok.text == "true")
            if tok.text == "null":
                return Lit(tok.line, None)
            if self.at("=>"):
                self.next()
                self.expr()
                return Op(tok.line, "=>")
            if self.toks[self.pos].text == "(":
                return Call(tok.line, tok.text, self.arguments())
            return Ref(tok.line, tok.text)
        if tok.text == "(":
            if self.is_lambda():
                self.skip_balanced("(", ")")
                self.expect("=>")
                self.expr()
                return Op(tok.line, "=>")
            return self.parenthesized()
        if tok.text == "{":
            return self.object()
        if tok.text == "[":
            return self.array()
        raise BicepSyntaxError(tok.line, f"expected a value, found {tok.text or tok.kind!r}")

    def is_lambda(self) -> bool:
        depth, i = 0, self.pos
        while True:
            tok = self.toks[i]
            if tok.kind == "eof":
                return False
            if tok.text == "(" and tok.kind == "op":
                depth += 1
            elif tok.text == ")" and tok.kind == "op":
                depth -= 1
                if depth == 0:
                    return self.toks[i + 1].text == "=>"
            i += 1

    def object(self) -> Obj:
        start = self.expect("{")
        self.newlines_ignored.append(False)
        obj = Obj(start.line, [])
        while True:
            self.skip_newlines()
            tok = self.next()
            if tok.text == "}" and tok.kind == "op":
                break
            if tok.text == "@":  # a decorator of a nested resource (@batchSize, @description)
                self.postfix()
                continue
            if tok.text == "..." and tok.kind == "op":
                self.expr()
                obj.spread = True
            elif tok.kind == "id" and tok.text == "resource" and self.toks[self.pos].kind == "id":
                obj.resources.append(self.resource(tok.line))
            elif tok.kind in ("id", "str", "istr"):
                self.expect(":")
                obj.props.append(Prop(tok.line, None if tok.kind == "istr" else tok.text, self.expr()))
            else:
                raise BicepSyntaxError(tok.line, f"expected a property name, found {tok.text or tok.kind!r}")
            end = self.peek()
            if end.kind == "op" and end.text == ",":
                self.next()
            elif end.kind != "nl" and end.text != "}":
                raise BicepSyntaxError(end.line, f"expected a new line or ',', found {end.text!r}")
        self.newlines_ignored.pop()
        return obj

    def array(self) -> Node:
        start = self.expect("[")
        self.newlines_ignored.append(False)
        self.skip_newlines()
        if self.at("for"):
            node = self.for_expression(start.line)
        else:
            items: list[Node] = []
            while True:
                self.skip_newlines()
                if self.at("]"):
                    self.next()
                    break
                items.append(self.expr())
                if self.at(","):
                    self.next()
            node = Arr(start.line, items)
        self.newlines_ignored.pop()
        return node

    def for_expression(self, line: int) -> For:
        self.expect("for")
        if self.at("("):
            self.next()
            names = [self.expect_kind("id").text]
            while self.at(","):
                self.next()
                names.append(self.expect_kind("id").text)
            self.expect(")")
        else:
            names = [self.expect_kind("id").text]
        self.expect("in")
        self.newlines_ignored.append(True)
        self.expr()
        self.expect(":")
        body = self.condition() if self.at("if") else self.expr()
        self.expect("]")
        self.newlines_ignored.pop()
        return For(line, names, body)


def allowed_values(decorators: list[Node]) -> list[Any] | None:
    for deco in decorators:
        if isinstance(deco, Call) and deco.name == "allowed" and deco.args and isinstance(deco.args[0], Arr):
            values = [item.value for item in deco.args[0].items if isinstance(item, Lit)]
            if len(values) == len(deco.args[0].items):
                return values
    return None


def parse(src: str) -> Template:
    return Parser(src).template()


def parse_file(path: Path) -> Template:
    return _parse_cached(path.read_text(encoding="utf-8"))


@functools.cache
def _parse_cached(src: str) -> Template:
    return parse(src)


# --- type data -------------------------------------------------------------------------------

class TypeSet:
    """One types.json: a list whose elements refer to each other as {"$ref": "#/N"}."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def get(self, ref: dict[str, Any]) -> dict[str, Any]:
        if "$ref" not in ref:  # already a type (the synthetic ones of module parameters)
            return ref
        return self.items[int(ref["$ref"].removeprefix("#/"))]


SYNTHETIC = TypeSet([])


class TypeLibrary:
    def __init__(self, root: Path = TYPES_DIR) -> None:
        self.resources: dict[str, tuple[TypeSet, dict[str, Any]]] = {}
        self.files: list[Path] = sorted(root.rglob("types.json"))
        for path in self.files:
            types = TypeSet(json.loads(path.read_text(encoding="utf-8")))
            for item in types.items:
                if item["$type"] == "ResourceType":
                    self.resources.setdefault(item["name"].lower(), (types, item))

    def lookup(self, type_: str, version: str) -> tuple[TypeSet, dict[str, Any]] | None:
        return self.resources.get(f"{type_}@{version}".lower())

    def versions(self, type_: str) -> list[str]:
        prefix = type_.lower() + "@"
        return sorted(name.split("@", 1)[1] for name in self.resources if name.startswith(prefix))

    def types_in(self, namespace: str) -> list[str]:
        prefix = namespace.lower() + "/"
        return sorted({item["name"].split("@")[0] for _, item in self.resources.values()
                       if item["name"].lower().startswith(prefix)})

    def missing_message(self, type_: str, version: str) -> str:
        versions = self.versions(type_)
        if versions:
            return (f"unknown api-version {version} for {type_}: the type data has {', '.join(versions)} "
                    f"(a version that does not exist, or one whose types.json is not in tests/infra/bicep_types yet)")
        namespace = type_.split("/")[0]
        known = self.types_in(namespace)
        if known:
            close = difflib.get_close_matches(type_, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"unknown resource type {type_} in {namespace}{hint}"
        return (f"no type data for {type_}@{version}: copy its types.json from Azure/bicep-types-az into "
                f"tests/infra/bicep_types (see the README there)")


@functools.cache
def default_library() -> TypeLibrary:
    return TypeLibrary()


# --- the check -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    where: str  # "resource site 'Microsoft.Web/sites@2024-04-01'" or "module storage './app/storage.bicep'"
    path: str  # property path, e.g. properties.siteConfig.appSettings[2].value
    message: str

    def __str__(self) -> str:
        path = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {self.where}: {path}{self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)  # Type@version of every resource checked against type data
    properties: int = 0  # property values checked


@dataclass
class Ctx:
    out: list[Finding]
    file: str
    where: str
    doc: Template
    types: TypeSet
    loop_names: frozenset[str] = frozenset()
    expanding: frozenset[str] = frozenset()  # variables being checked in place, against cycles

    def error(self, line: int, path: str, message: str) -> None:
        self.out.append(Finding(self.file, line, self.where, path, message))


def display_name(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def check(paths: Iterable[Path], library: TypeLibrary | None = None) -> Report:
    """Check Bicep files (folders are searched for *.bicep) against the type data."""
    library = library or default_library()
    report = Report()
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.bicep")) if path.is_dir() else [path])
    for path in files:
        Checker(library, report).check_file(path)
    return report


class Checker:
    def __init__(self, library: TypeLibrary, report: Report) -> None:
        self.library, self.report = library, report

    def check_file(self, path: Path) -> None:
        name = display_name(path)
        try:
            doc = parse_file(path.resolve())
        except (BicepSyntaxError, OSError) as exc:
            line = exc.line if isinstance(exc, BicepSyntaxError) else 0
            self.report.findings.append(Finding(name, line, "file", "", f"cannot parse: {exc}"))
            return
        for res in doc.resources:
            self.check_resource(Ctx(self.report.findings, name, "", doc, SYNTHETIC), res)
        for mod in doc.modules:
            self.check_module(Ctx(self.report.findings, name, "", doc, SYNTHETIC), mod, path.parent)

    # -- resources --

    def check_resource(self, ctx: Ctx, res: Resource, parent: tuple[str, str | None] | None = None) -> None:
        type_, _, version = res.type_text.partition("@")
        if parent:
            type_, version = f"{parent[0]}/{type_}", version or parent[1]
        ctx = replace(ctx, where=f"resource {res.symbol} '{type_}@{version}'" if version else f"resource {res.symbol}")
        body = body_of(res.value)
        loop_names = frozenset(res.value.names) if isinstance(res.value, For) else frozenset()
        ctx = replace(ctx, loop_names=ctx.loop_names | loop_names)
        found = self.library.lookup(type_, version) if version else None
        if not version:
            ctx.error(res.line, "", f"'{res.type_text}' has no api-version (Type@version)")
        elif found is None:
            ctx.error(res.line, "", self.library.missing_message(type_, version))
        elif body is None:
            ctx.error(res.line, "", "the resource body is not an object")
        else:
            types, resource_type = found
            ctx = replace(ctx, types=types)
            self.report.resources.append(f"{type_}@{version}")
            if res.existing:
                self.check_existing(ctx, res, body, resource_type)
            else:
                if resource_type.get("writableScopes") == 0:
                    ctx.error(res.line, "", "this resource type is read-only: reference it with 'existing'")
                self.check_object(ctx, body, types.get(resource_type["body"]), "", resource=True)
        for child in body.resources if body else []:
            self.check_resource(ctx, child, (type_, version))

    def check_existing(self, ctx: Ctx, res: Resource, body: Obj, resource_type: dict[str, Any]) -> None:
        if resource_type.get("readableScopes") == 0:
            ctx.error(res.line, "", "this resource type cannot be referenced with 'existing'")
        for prop in body.props:
            if prop.key not in EXISTING_KEYS:
                ctx.error(prop.line, prop.key or "", "an 'existing' resource takes only name, parent and scope")
            elif prop.key == "name":
                name_type = ctx.types.get(resource_type["body"]).get("properties", {}).get("name")
                if name_type:
                    self.check_value(ctx, prop.value, name_type["type"], "name")

    # -- values --

    def check_object(self, ctx: Ctx, obj: Obj, type_: dict[str, Any], path: str, resource: bool = False) -> None:
        members = self.members(ctx, obj, type_, path)
        if members is None:
            return
        properties, additional, check_required = members
        present = set()
        for prop in obj.props:
            if prop.key is None:  # '${expr}': value — the key is not known, its value still is
                if additional is not None:
                    self.check_value(ctx, prop.value, additional, f"{path}[*]" if path else "[*]")
                continue
            present.add(prop.key)
            sub = f"{path}.{prop.key}" if path else prop.key
            if resource and prop.key in RESOURCE_KEYWORDS:
                continue
            definition = properties.get(prop.key)
            if definition is None:
                if additional is not None:
                    self.check_value(ctx, prop.value, additional, sub)
                else:
                    ctx.error(prop.line, sub, "unknown property" + suggestion(prop.key, properties))
                continue
            if definition.get("flags", 0) & READ_ONLY:
                ctx.error(prop.line, sub, "read-only property: Azure sets it, a template cannot")
                continue
            self.check_value(ctx, prop.value, definition["type"], sub)
        if check_required and not obj.spread:
            missing = [name for name, definition in properties.items()
                       if definition.get("flags", 0) & REQUIRED and not definition.get("flags", 0) & READ_ONLY
                       and name not in present]
            if missing:
                ctx.error(obj.line, path, f"missing required {plural('property', missing)} {', '.join(missing)}")

    def members(self, ctx: Ctx, obj: Obj, type_: dict[str, Any], path: str
                ) -> tuple[dict[str, Any], dict[str, Any] | None, bool] | None:
        """(properties, additionalProperties, whether required ones can be checked) of an object type."""
        if type_["$type"] == "ObjectType":
            return type_.get("properties", {}), type_.get("additionalProperties"), True
        discriminator = type_["discriminator"]
        properties = dict(type_.get("baseProperties", {}))
        value_prop = next((p for p in obj.props if p.key == discriminator), None)
        value = value_prop.value.value if value_prop and isinstance(value_prop.value, Lit) else None
        if isinstance(value, str) and discriminator == "name":
            value = value.rsplit("/", 1)[-1]  # 'site/web' names the variant 'web'
        if not isinstance(value, str):
            # Not a literal: which variant applies is decided at deployment; accept any of them.
            for ref in type_["elements"].values():
                properties.update(ctx.types.get(ref).get("properties", {}))
            return properties, None, False
        variant_ref = type_["elements"].get(value)
        if variant_ref is None:
            sub = f"{path}.{discriminator}" if path else discriminator
            choices = ", ".join(f"'{v}'" for v in type_["elements"])
            ctx.error(value_prop.line, sub, f"unknown variant '{value}' of this discriminated type; expected one of {choices}")
            return None
        variant = ctx.types.get(variant_ref)
        properties.update(variant.get("properties", {}))
        return properties, variant.get("additionalProperties"), True

    def check_value(self, ctx: Ctx, node: Node, type_ref: dict[str, Any], path: str) -> None:
        self.report.properties += 1
        type_ = ctx.types.get(type_ref)
        kind = type_["$type"]
        if kind == "AnyType":
            return
        if isinstance(node, Ternary):  # both branches must fit
            self.check_value(ctx, node.then, type_ref, path)
            self.check_value(ctx, node.otherwise, type_ref, path)
            return
        if isinstance(node, Ref) and node.name in ctx.doc.variables and node.name not in ctx.loop_names:
            if node.name not in ctx.expanding:  # a variable is checked where it is used, as Bicep does
                inner = replace(ctx, expanding=ctx.expanding | {node.name})
                self.check_value(inner, ctx.doc.variables[node.name], type_ref, path)
            return
        if isinstance(node, For) and kind != "UnionType":
            if kind == "ArrayType":
                inner = replace(ctx, loop_names=ctx.loop_names | set(node.names))
                self.check_value(inner, node.body, type_["itemType"], f"{path}[*]")
            else:
                self.mismatch(ctx, node, type_, "array", path)
            return
        if kind == "UnionType":
            self.check_union(ctx, node, type_, path)
        elif kind in ("ObjectType", "DiscriminatedObjectType") and isinstance(node, Obj):
            self.check_object(ctx, node, type_, path)
        elif kind == "ArrayType" and isinstance(node, Arr):
            for i, item in enumerate(node.items):
                self.check_value(ctx, item, type_["itemType"], f"{path}[{i}]")
        elif kind == "StringLiteralType" and isinstance(node, Lit) and isinstance(node.value, str):
            if node.value != type_["value"]:
                ctx.error(node.line, path, f"expected '{type_['value']}', got '{node.value}'")
        else:
            shape = self.shape(ctx, node)
            if shape is not None and shape != "null" and shape != SHAPES.get(kind, shape):
                self.mismatch(ctx, node, type_, shape, path)

    def check_union(self, ctx: Ctx, node: Node, type_: dict[str, Any], path: str) -> None:
        elements = [ctx.types.get(ref) for ref in type_["elements"]]
        if any(e["$type"] == "AnyType" for e in elements):
            return
        if isinstance(node, Lit) and isinstance(node.value, str):
            literals = [e["value"] for e in elements if e["$type"] == "StringLiteralType"]
            if node.value not in literals and not any(e["$type"] == "StringType" for e in elements):
                close = [v for v in literals if v.lower() == node.value.lower()] or \
                    difflib.get_close_matches(node.value, literals, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                ctx.error(node.line, path, f"expected {describe(ctx, type_)}, got '{node.value}'{hint}")
            return
        shape = self.shape(ctx, node)
        if shape is None or shape == "null":
            return
        candidates = [e for e in elements if SHAPES.get(e["$type"]) == shape]
        if not candidates:
            self.mismatch(ctx, node, type_, shape, path)
        elif shape in ("object", "array"):  # the value must fit one of them
            attempts = []
            for candidate in candidates:
                trial = replace(ctx, out=[])
                self.check_value(trial, node, candidate, path)
                if not trial.out:
                    return
                attempts.append(trial.out)
            ctx.out.extend(min(attempts, key=len))

    def mismatch(self, ctx: Ctx, node: Node, type_: dict[str, Any], shape: str, path: str) -> None:
        got = shape
        if isinstance(node, Lit):
            got = f"{shape} {json.dumps(node.value)}" if not isinstance(node.value, str) else f"string '{node.value}'"
        elif isinstance(node, Ref) and node.name in ctx.doc.params:
            got = f"{shape} (parameter {node.name})"
        ctx.error(node.line, path, f"expected {describe(ctx, type_)}, got {got}")

    def shape(self, ctx: Ctx, node: Node) -> str | None:
        """string/int/bool/object/array/null of a value, or None where it is not known statically."""
        if isinstance(node, Lit):
            value = node.value
            if value is None:
                return "null"
            return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "string"
        if isinstance(node, Interp):
            return "string"
        if isinstance(node, Obj):
            return "object"
        if isinstance(node, Arr | For):
            return "array"
        if isinstance(node, Ternary):
            then, otherwise = self.shape(ctx, node.then), self.shape(ctx, node.otherwise)
            return then if then == otherwise else None
        if isinstance(node, Op):
            return OPERATOR_SHAPES.get(node.op)
        if isinstance(node, Call):
            return FUNCTION_SHAPES.get(node.name)
        if isinstance(node, Member):
            target = node.target
            if isinstance(target, Ref) and node.name in ("id", "name", "type", "apiVersion") and (
                    target.name in self.symbols(ctx.doc)):
                return "string"
            return None
        if isinstance(node, Ref) and node.name not in ctx.loop_names:
            if node.name in ctx.doc.params:
                param = ctx.doc.params[node.name]
                return None if param.nullable else param.prim
            if node.name in ctx.doc.variables and node.name not in ctx.expanding:
                return self.shape(replace(ctx, expanding=ctx.expanding | {node.name}), ctx.doc.variables[node.name])
            if node.name in self.symbols(ctx.doc):
                return "object"
        return None

    @staticmethod
    def symbols(doc: Template) -> set[str]:
        """Resource and module symbols of a file, nested resources included."""
        names = {m.symbol for m in doc.modules}
        pending = list(doc.resources)
        while pending:
            res = pending.pop()
            names.add(res.symbol)
            body = body_of(res.value)
            pending.extend(body.resources if body else [])
        return names

    # -- modules --

    def check_module(self, ctx: Ctx, mod: Module, base_dir: Path) -> None:
        ctx = replace(ctx, where=f"module {mod.symbol} '{mod.path}'")
        body = body_of(mod.value)
        if isinstance(mod.value, For):
            ctx = replace(ctx, loop_names=frozenset(mod.value.names))
        if mod.path.startswith(("br:", "br/", "ts:", "ts/")) or body is None:
            return  # registry modules: their parameters are not on disk
        target = base_dir / mod.path
        if not target.is_file():
            ctx.error(mod.line, "", f"module file {mod.path} not found")
            return
        try:
            declared = parse_file(target.resolve()).params
        except BicepSyntaxError as exc:
            ctx.error(mod.line, "", f"module file {mod.path} cannot be parsed: {exc}")
            return
        given: set[str] = set()
        for prop in body.props:
            if prop.key not in MODULE_KEYS:
                ctx.error(prop.line, prop.key or "", "unknown module property" + suggestion(prop.key or "", MODULE_KEYS))
            elif prop.key == "params" and isinstance(prop.value, Obj):
                for arg in prop.value.props:
                    if arg.key is None:
                        continue
                    given.add(arg.key)
                    param = declared.get(arg.key)
                    if param is None:
                        ctx.error(arg.line, f"params.{arg.key}",
                                  f"{mod.path} has no parameter {arg.key}" + suggestion(arg.key, declared))
                    elif param.prim:
                        self.check_value(ctx, arg.value, parameter_type(param), f"params.{arg.key}")
            elif prop.key == "params" and not isinstance(prop.value, Obj):
                return  # params from an expression: which ones are given is not known statically
        missing = [name for name, p in declared.items() if not p.has_default and not p.nullable and name not in given]
        if missing:
            ctx.error(mod.line, "params", f"missing required {plural('parameter', missing)} {', '.join(missing)}")


SHAPES = {"StringType": "string", "StringLiteralType": "string", "IntegerType": "int", "BooleanType": "bool",
          "ObjectType": "object", "DiscriminatedObjectType": "object", "ArrayType": "array", "NullType": "null"}
OPERATOR_SHAPES = {"!": "bool", "==": "bool", "!=": "bool", "=~": "bool", "!~": "bool", "<": "bool", "<=": "bool",
                   ">": "bool", ">=": "bool", "&&": "bool", "||": "bool", "-": "int", "*": "int", "/": "int",
                   "%": "int"}  # '+' is int only; '??', '[]' and lambdas depend on their operands
FUNCTION_SHAPES = {
    **dict.fromkeys(["string", "toLower", "toUpper", "format", "guid", "newGuid", "uniqueString", "substring",
                     "replace", "trim", "base64", "base64ToString", "uri", "uriComponent", "uriComponentToString",
                     "dataUri", "dataUriToString", "loadTextContent", "loadFileAsBase64", "utcNow", "padLeft",
                     "join", "resourceId", "subscriptionResourceId", "tenantResourceId", "extensionResourceId",
                     "managementGroupResourceId", "dateTimeAdd", "dateTimeFromEpoch"], "string"),
    **dict.fromkeys(["int", "length", "indexOf", "lastIndexOf", "dateTimeToEpoch"], "int"),
    **dict.fromkeys(["bool", "empty", "contains", "startsWith", "endsWith"], "bool"),
    **dict.fromkeys(["array", "split", "range", "flatten", "items", "filter", "map", "sort", "pickZones"], "array"),
    **dict.fromkeys(["resourceGroup", "subscription", "tenant", "managementGroup", "deployment", "environment",
                     "toObject"], "object"),
}


def parameter_type(param: Param) -> dict[str, Any]:
    """A module parameter's declared type, in the shape of the type data."""
    if param.prim == "string" and param.allowed and all(isinstance(v, str) for v in param.allowed):
        return {"$type": "UnionType", "elements": [{"$type": "StringLiteralType", "value": v} for v in param.allowed]}
    return {
        "string": {"$type": "StringType"},
        "int": {"$type": "IntegerType"},
        "bool": {"$type": "BooleanType"},
        "object": {"$type": "ObjectType", "properties": {}, "additionalProperties": {"$type": "AnyType"}},
        "array": {"$type": "ArrayType", "itemType": {"$type": "AnyType"}},
    }.get(param.prim or "", {"$type": "AnyType"})


def describe(ctx: Ctx, type_: dict[str, Any]) -> str:
    kind = type_["$type"]
    if kind == "StringLiteralType":
        return f"'{type_['value']}'"
    if kind == "UnionType":
        names = dict.fromkeys(describe(ctx, ctx.types.get(e)) for e in type_["elements"])
        return " | ".join(names)
    return SHAPES.get(kind, kind)


def suggestion(name: str, known: Iterable[str]) -> str:
    known = list(known)
    close = [k for k in known if k.lower() == name.lower()] or difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def plural(word: str, items: list[str]) -> str:
    return word if len(items) == 1 else {"property": "properties", "parameter": "parameters"}[word]


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [REPO_ROOT / "infra"]
    report = check(paths)
    for finding in report.findings:
        print(finding)
    print(f"{len(report.resources)} resources and {report.properties} values checked, "
          f"{len(report.findings)} findings", file=sys.stderr)
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
