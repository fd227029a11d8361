#!/usr/bin/env python3
"""Generate Berth's AWS wire types from the botocore service models.

The botocore JSON models are the specification of every AWS request and response shape Berth speaks. This script
turns one model into a Rust module of serde types so that member names, nesting and types are exact by construction.

Usage (from the repository root):

    pip download botocore --no-deps -d /tmp/bc && (cd /tmp/bc && unzip -q -o botocore-*.whl 'botocore/data/*')
    python3 tools/gen-model/gen.py /tmp/bc/botocore/data [SERVICE ...]

It rewrites `crates/model/src/<module>/shapes.rs` (the service's name, or its MODULES entry) for each service in SERVICES (or only those named). Mapping rules:

* structure -> `struct` with one field per member, `#[serde(rename = "<member>")]`; members the model lists as
  `required` are plain fields, the others `Option<_>` and skipped when `None`. Unboxed `Integer`/`Boolean`/`Long`
  members (not `Boxed*`) are plain too, with a serde default, as the AWS SDKs treat them.
* string with `enum` -> Rust `enum` with `as_str()`; other strings -> `String`.
* integer -> i32, long -> i64, double/float -> f64, boolean -> bool, timestamp -> `crate::Timestamp` (epoch
  seconds), blob -> `crate::Blob` (base64 on the wire), list -> `Vec`, map -> `BTreeMap`.
* exceptions are not generated; the API crate owns the error mapping. An exception an event stream names as a
  member is `serde_json::Value`, and so is a document structure (`"document": true`: free JSON).
* a structure member that leads back to its own structure (through structures only) is boxed.

Only the member names and types are taken from the model; doc comments are generated from the names.

For the services in OPERATION_SUBSETS (SSM, KMS), only the shapes the listed operations reach are generated.

For the services in SCHEMA_SERVICES, `SCHEMA` (a `berth_model::schema::Schema`) lists every shape's kind, each
structure's members, and each operation's input, output and query result wrapper, so that the API crate can
translate CBOR and the AWS query protocol to and from the JSON the shapes use.
"""

import gzip
import json
import os
import re
import sys

SERVICES = {
    "ecs": "2014-11-13",
    "ecr": "2015-09-21",
    "logs": "2014-03-28",
    "cloudwatch": "2010-08-01",
    "application-autoscaling": "2016-02-06",
    "elbv2": "2015-12-01",
    "servicediscovery": "2017-03-14",
    "secretsmanager": "2017-10-17",
    "ssm": "2014-11-06",
    "kms": "2014-11-01",
    "iam": "2010-05-08",
    "sts": "2011-06-15",
    "acm": "2015-12-08",
}

# Services served only in part, whose models are large (SSM has 140+ operations and 1,500 shapes): only the shapes
# these operations' inputs and outputs reach are generated (`OPERATIONS` still lists the whole model), so the
# compile stays small.
OPERATION_SUBSETS = {
    "ssm": [
        "PutParameter", "GetParameter", "GetParameters", "GetParametersByPath", "DeleteParameter",
        "DeleteParameters", "DescribeParameters", "GetParameterHistory", "LabelParameterVersion",
        "UnlabelParameterVersion", "AddTagsToResource", "ListTagsForResource", "RemoveTagsFromResource",
    ],
    "kms": [
        "CreateKey", "DescribeKey", "ListKeys", "CreateAlias", "ListAliases", "DeleteAlias", "UpdateAlias",
        "EnableKey", "DisableKey", "Encrypt", "Decrypt", "GenerateDataKey", "ScheduleKeyDeletion",
        "CancelKeyDeletion", "TagResource", "UntagResource", "ListResourceTags", "GetKeyRotationStatus",
    ],
    "iam": [
        "CreateUser", "GetUser", "ListUsers", "DeleteUser", "CreateAccessKey", "ListAccessKeys", "DeleteAccessKey",
        "CreateRole", "GetRole", "ListRoles", "DeleteRole", "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy",
        "ListRolePolicies", "PutUserPolicy", "GetUserPolicy", "DeleteUserPolicy", "ListUserPolicies", "CreatePolicy",
        "GetPolicy", "GetPolicyVersion", "DeletePolicy", "ListPolicies", "AttachRolePolicy", "DetachRolePolicy",
        "AttachUserPolicy", "DetachUserPolicy", "ListAttachedRolePolicies", "ListAttachedUserPolicies",
        "CreateGroup", "GetGroup", "DeleteGroup", "ListGroups", "AddUserToGroup", "RemoveUserFromGroup",
        "PutGroupPolicy", "GetGroupPolicy", "DeleteGroupPolicy", "AttachGroupPolicy", "DetachGroupPolicy",
        "ListAttachedGroupPolicies", "ListGroupsForUser", "TagRole", "UntagRole", "ListRoleTags", "TagUser",
        "UntagUser", "ListUserTags", "UpdateAssumeRolePolicy",
    ],
    "acm": [
        "ImportCertificate", "DescribeCertificate", "ListCertificates", "GetCertificate", "DeleteCertificate",
        "AddTagsToCertificate", "RemoveTagsFromCertificate", "ListTagsForCertificate", "RequestCertificate",
    ],
}

# The Rust module of a service whose botocore name is not a Rust identifier.
MODULES = {"application-autoscaling": "autoscaling"}

# Services whose protocols carry types the JSON shapes alone do not (CBOR's tagged timestamps and float/int
# distinction, the query protocol's flattened forms and XML): a `SCHEMA` table of every shape is generated for
# them (`berth_model::schema`).
SCHEMA_SERVICES = {"cloudwatch", "elbv2", "iam", "sts"}

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super",
    "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
}

# Type names that would shadow the prelude or our own helpers if generated verbatim.
RESERVED_TYPE_NAMES = {"Option", "Result", "Box", "Vec", "String", "Timestamp", "Blob", "Ok", "Err", "Some", "None"}

UNBOXED_PRIMITIVES = {"Integer", "Boolean", "Long", "Double"}

# Optional enumeration and string members where an empty string means absent, as deploy tools send them when they copy a
# described definition (docs/COMPATIBILITY.md). Deserialized with `crate::empty_is_absent`.
EMPTY_IS_ABSENT = {
    ("RegisterTaskDefinitionRequest", "networkMode"),
    ("RegisterTaskDefinitionRequest", "pidMode"),
    ("RegisterTaskDefinitionRequest", "ipcMode"),
    # Leniency sweep, part 2 (docs/COMPATIBILITY.md §7): optional strings a copied definition or a filled-in
    # `--generate-cli-skeleton` sends as "".
    ("RegisterTaskDefinitionRequest", "cpu"),
    ("RegisterTaskDefinitionRequest", "memory"),
    ("RunTaskRequest", "group"),
    ("RunTaskRequest", "startedBy"),
    ("RunTaskRequest", "platformVersion"),
    ("RunTaskRequest", "referenceId"),
    ("RunTaskRequest", "clientToken"),
    ("StartTaskRequest", "group"),
    ("StartTaskRequest", "startedBy"),
    ("StartTaskRequest", "referenceId"),
    ("CreateServiceRequest", "platformVersion"),
    ("CreateServiceRequest", "role"),
    ("CreateServiceRequest", "clientToken"),
    ("UpdateServiceRequest", "platformVersion"),
    # Leniency sweep, part 3 (docs/COMPATIBILITY.md §2.5): optional enum members a copied request may send as "".
    ("RunTaskRequest", "launchType"),
    ("RunTaskRequest", "propagateTags"),
    ("StartTaskRequest", "propagateTags"),
    ("CreateServiceRequest", "launchType"),
    ("CreateServiceRequest", "propagateTags"),
    ("CreateServiceRequest", "schedulingStrategy"),
    ("UpdateServiceRequest", "propagateTags"),
}


def snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.replace("-", "_").replace(".", "_").lower()
    if s in RUST_KEYWORDS:
        s = "r#" + s
    return s


def variant_name(value: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", value)
    out = []
    for p in parts:
        if not p:
            continue
        if p.isupper() or p.islower():
            out.append(p[0].upper() + p[1:].lower())
        else:
            out.append(p[0].upper() + p[1:])
    name = "".join(out)
    if not name or name[0].isdigit():
        name = "V" + name
    return name


def type_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if name in RESERVED_TYPE_NAMES:
        return name + "Shape"
    return name[0].upper() + name[1:]


class Generator:
    def __init__(self, service: str, model: dict):
        self.service = service
        self.model = model
        self.shapes = model["shapes"]
        self.out = []

    def reachable(self, operations) -> set:
        """Every shape the inputs and outputs of `operations` lead to."""
        seen, todo = set(), []
        for op in operations:
            o = self.model["operations"][op]
            for end in ("input", "output"):
                if end in o:
                    todo.append(o[end]["shape"])
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            s = self.shapes[name]
            if s["type"] == "structure":
                todo.extend(m["shape"] for m in s["members"].values())
            elif s["type"] == "list":
                todo.append(s["member"]["shape"])
            elif s["type"] == "map":
                todo.extend([s["key"]["shape"], s["value"]["shape"]])
        return seen

    def rust_type(self, shape_name: str) -> str:
        s = self.shapes[shape_name]
        t = s["type"]
        if t == "structure":
            if s.get("exception") or s.get("document"):
                # An event stream's error member (exceptions are not generated), or a free JSON document
                # (`"document": true`, e.g. ECS's HookDetails): raw JSON.
                return "serde_json::Value"
            return type_name(shape_name)
        if t == "string":
            return type_name(shape_name) if "enum" in s else "String"
        if t == "integer":
            return "i32"
        if t == "long":
            return "i64"
        if t in ("double", "float"):
            return "f64"
        if t == "boolean":
            return "bool"
        if t == "timestamp":
            return "crate::Timestamp"
        if t == "blob":
            return "crate::Blob"
        if t == "list":
            return f"Vec<{self.rust_type(s['member']['shape'])}>"
        if t == "map":
            return f"BTreeMap<String, {self.rust_type(s['value']['shape'])}>"
        raise ValueError(f"unknown shape type {t} for {shape_name}")

    def reaches(self, start: str, goal: str) -> bool:
        """Whether structure `start` contains structure `goal` directly, through structure members only (lists and
        maps already give indirection)."""
        seen, todo = set(), [start]
        while todo:
            shape = todo.pop()
            if shape in seen:
                continue
            seen.add(shape)
            s = self.shapes[shape]
            if s["type"] != "structure" or s.get("exception"):
                continue
            if shape == goal:
                return True
            todo.extend(m["shape"] for m in s["members"].values())
        return False

    def emit_struct(self, name: str, s: dict):
        required = set(s.get("required", []))
        rname = type_name(name)
        self.out.append(f"/// The `{name}` shape of {self.service.upper()} (botocore `{self.service}/{SERVICES[self.service]}`).")
        self.out.append("#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]")
        self.out.append(f"pub struct {rname} {{")
        for member, spec in s["members"].items():
            target = spec["shape"]
            ty = self.rust_type(target)
            if self.reaches(target, name):
                ty = f"Box<{ty}>"  # a recursive structure needs indirection
            field = snake(member)
            plain = member in required or (
                target in UNBOXED_PRIMITIVES and self.shapes[target]["type"] in ("integer", "boolean", "long", "double")
            )
            self.out.append(f"    /// Wire member `{member}`{' (required)' if member in required else ''}.")
            if plain:
                attrs = f'rename = "{member}"'
                if member not in required:
                    attrs += ", default"
                self.out.append(f"    #[serde({attrs})]")
                self.out.append(f"    pub {field}: {ty},")
            elif (name, member) in EMPTY_IS_ABSENT:
                # Written as rustfmt lays out the long attribute, so that `cargo fmt` leaves the output alone.
                self.out.append("    #[serde(")
                self.out.append(f'        rename = "{member}",')
                self.out.append("        default,")
                self.out.append('        skip_serializing_if = "Option::is_none",')
                self.out.append('        deserialize_with = "crate::empty_is_absent"')
                self.out.append("    )]")
                self.out.append(f"    pub {field}: Option<{ty}>,")
            else:
                self.out.append(
                    f'    #[serde(rename = "{member}", default, skip_serializing_if = "Option::is_none")]'
                )
                self.out.append(f"    pub {field}: Option<{ty}>,")
        self.out.append("}")
        self.out.append("")

    def emit_enum(self, name: str, s: dict):
        rname = type_name(name)
        values = s["enum"]
        self.out.append(f"/// The `{name}` enumeration of {self.service.upper()}.")
        self.out.append("#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]")
        self.out.append(f"pub enum {rname} {{")
        seen = set()
        for i, v in enumerate(values):
            vn = variant_name(v)
            while vn in seen:
                vn += "_"
            seen.add(vn)
            self.out.append(f"    /// Wire value `{v}`.")
            if i == 0:
                self.out.append("    #[default]")
            self.out.append(f'    #[serde(rename = "{v}")]')
            self.out.append(f"    {vn},")
        self.out.append("}")
        self.out.append("")
        self.out.append(f"impl {rname} {{")
        self.out.append("    /// Every value the model allows, in model order.")
        self.out.append(f"    pub const VALUES: &'static [&'static str] = &[{', '.join(json.dumps(v) for v in values)}];")
        self.out.append("")
        self.out.append("    /// The value as it appears on the wire.")
        self.out.append("    pub fn as_str(&self) -> &'static str {")
        self.out.append("        match self {")
        seen = set()
        for v in values:
            vn = variant_name(v)
            while vn in seen:
                vn += "_"
            seen.add(vn)
            self.out.append(f'            Self::{vn} => "{v}",')
        self.out.append("        }")
        self.out.append("    }")
        self.out.append("")
        self.out.append("    /// Parses a wire value; `None` for a value the model does not list.")
        self.out.append("    pub fn parse(value: &str) -> Option<Self> {")
        self.out.append("        match value {")
        seen = set()
        for v in values:
            vn = variant_name(v)
            while vn in seen:
                vn += "_"
            seen.add(vn)
            self.out.append(f'            "{v}" => Some(Self::{vn}),')
        self.out.append("            _ => None,")
        self.out.append("        }")
        self.out.append("    }")
        self.out.append("}")
        self.out.append("")
        self.out.append(f"impl std::fmt::Display for {rname} {{")
        self.out.append("    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {")
        self.out.append("        f.write_str(self.as_str())")
        self.out.append("    }")
        self.out.append("}")
        self.out.append("")

    def schema_kind(self, name: str) -> str:
        s = self.shapes[name]
        t = s["type"]
        if t == "structure":
            members = ", ".join(f'("{m}", "{spec["shape"]}")' for m, spec in s["members"].items())
            return f"Kind::Structure(&[{members}])"
        if t == "list":
            return f'Kind::List("{s["member"]["shape"]}")'
        if t == "map":
            return f'Kind::Map("{s["key"]["shape"]}", "{s["value"]["shape"]}")'
        return {
            "string": "Kind::String",
            "integer": "Kind::Integer",
            "long": "Kind::Long",
            "double": "Kind::Double",
            "float": "Kind::Double",
            "boolean": "Kind::Boolean",
            "timestamp": "Kind::Timestamp",
            "blob": "Kind::Blob",
        }[t]

    def emit_schema(self):
        meta = self.model["metadata"]
        self.out.append(f"/// Every shape and operation of the {self.service.upper()} model, for the CBOR and query protocols.")
        self.out.append("pub static SCHEMA: crate::schema::Schema = crate::schema::Schema {")
        self.out.append(f'    xml_namespace: "{meta.get("xmlNamespace", "")}",')
        self.out.append(f'    api_version: "{meta["apiVersion"]}",')
        self.out.append("    operations: &[")
        for op in sorted(self.model["operations"]):
            o = self.model["operations"][op]
            inp = o.get("input", {}).get("shape")
            out = o.get("output", {}).get("shape")
            wrapper = o.get("output", {}).get("resultWrapper")
            q = lambda v: f'Some("{v}")' if v else "None"
            self.out.append(f'        ("{op}", {q(inp)}, {q(out)}, {q(wrapper)}),')
        self.out.append("    ],")
        self.out.append("    shapes: &[")
        for name in sorted(self.shapes):
            if self.shapes[name].get("exception"):
                continue
            self.out.append(f'        ("{name}", {self.schema_kind(name)}),')
        self.out.append("    ],")
        self.out.append("};")
        self.out.append("")

    def generate(self) -> str:
        meta = self.model["metadata"]
        self.out.append(f"//! {self.service.upper()} wire shapes, generated by `tools/gen-model/gen.py` from botocore's")
        self.out.append(f"//! `{self.service}/{SERVICES[self.service]}/service-2.json`. Do not edit by hand; rerun the generator.")
        self.out.append("")
        self.out.append("#![allow(clippy::all, missing_docs)]")
        self.out.append("")
        self.out.append("use serde::{Deserialize, Serialize};")
        self.out.append("use std::collections::BTreeMap;")
        self.out.append("")
        if "targetPrefix" in meta:  # query-only services (ELBv2) have none
            self.out.append(f"/// The `X-Amz-Target` prefix of every {self.service.upper()} operation.")
            self.out.append(f'pub const TARGET_PREFIX: &str = "{meta["targetPrefix"]}";')
            self.out.append("")
        self.out.append(f"/// The SigV4 signing name of {self.service.upper()}.")
        self.out.append(f'pub const SIGNING_NAME: &str = "{meta.get("signingName", meta["endpointPrefix"])}";')
        self.out.append("")
        ops = sorted(self.model["operations"])
        self.out.append(f"/// Every operation name in the {self.service.upper()} model.")
        self.out.append("pub const OPERATIONS: &[&str] = &[")
        for op in ops:
            self.out.append(f'    "{op}",')
        self.out.append("];")
        self.out.append("")
        if self.service in SCHEMA_SERVICES:
            self.out.append("use crate::schema::Kind;")
            self.out.append("")
            self.emit_schema()
        wanted = self.shapes
        if self.service in OPERATION_SUBSETS:
            wanted = self.reachable(OPERATION_SUBSETS[self.service])
        for name in sorted(wanted):
            s = self.shapes[name]
            if s.get("exception") or s.get("document"):
                continue
            if s["type"] == "structure":
                self.emit_struct(name, s)
            elif s["type"] == "string" and "enum" in s:
                self.emit_enum(name, s)
        code = "\n".join(self.out) + "\n"
        if "BTreeMap<" not in code:
            # A subset of a model may have no map at all.
            code = code.replace("use std::collections::BTreeMap;\n", "")
        return code


def main():
    if len(sys.argv) < 2 or any(s not in SERVICES for s in sys.argv[2:]):
        print(__doc__)
        sys.exit(2)
    data = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    only = sys.argv[2:] or list(SERVICES)
    for service, version in SERVICES.items():
        if service not in only:
            continue
        path = os.path.join(data, service, version, "service-2.json.gz")
        with gzip.open(path) as f:
            model = json.load(f)
        code = Generator(service, model).generate()
        out = os.path.join(root, "crates", "model", "src", MODULES.get(service, service), "shapes.rs")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(code)
        print(f"wrote {out}: {code.count(chr(10))} lines")


if __name__ == "__main__":
    main()
