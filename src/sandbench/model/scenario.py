"""The scenario: Runloop's ``ScenarioCreateParameters`` with the rules its schema states in prose.

Field names, nesting and optionality follow ``reference/runloop-scenario.schema.json`` so a
scenario moves between sandbench and Runloop unchanged. Every optional field defaults to
``None`` and exports omit ``None``, which is what makes the export validate against the
schema (whose ``nullable`` is not a JSON-Schema keyword).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_serializer,
    field_validator,
    model_validator,
)

from sandbench.model.resources import (
    DEFAULT_CUSTOM_DISK_GIB,
    DEFAULT_SIZE,
    PRESETS,
    Resources,
    ResourceSize,
    check_custom_cpu,
    check_custom_disk,
    check_custom_memory,
    check_ratio,
)

INT32_MAX = 2**31 - 1
MAX_KEEP_ALIVE_SECONDS = 172_800
DEFAULT_SCORER_TIMEOUT_SEC = 1800
WEIGHT_TOLERANCE = 0.01
_FLOAT_SLACK = 1e-9  # 0.5 + 0.51 is 1.0100000000000002

# Scalars are strict: a TOML string "0.5" where a number belongs is an error, not a guess.
Str = StrictStr
Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Int32 = Annotated[int, Field(strict=True, ge=-(2**31), le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(strict=True, gt=0, le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(strict=True, ge=0, le=INT32_MAX)]


def weights_sum_ok(total: float) -> bool:
    return abs(total - 1.0) <= WEIGHT_TOLERANCE + _FLOAT_SLACK


SCORER_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class Strict(BaseModel):
    """Base for schema objects: unknown fields are rejected, as the schema's
    ``additionalProperties: false`` says."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class ValidationType(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    FORWARD = "FORWARD"
    REVERSE = "REVERSE"
    EVALUATION = "EVALUATION"


class Architecture(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class IdleAction(StrEnum):
    SHUTDOWN = "shutdown"
    SUSPEND = "suspend"


# --------------------------------------------------------------------------- scorers


class AstGrepScorer(Strict):
    type: Literal["ast_grep_scorer"] = "ast_grep_scorer"
    search_directory: Str
    pattern: Str
    lang: Str | None = None


class BashScriptScorer(Strict):
    type: Literal["bash_script_scorer"] = "bash_script_scorer"
    bash_script: Str | None = None


class CommandScorer(Strict):
    type: Literal["command_scorer"] = "command_scorer"
    command: Str | None = None


class CustomScorer(Strict):
    type: Literal["custom_scorer"] = "custom_scorer"
    custom_scorer_type: Str
    scorer_params: dict[str, Any] | None = None


class PythonScriptScorer(Strict):
    type: Literal["python_script_scorer"] = "python_script_scorer"
    python_script: Str
    requirements_contents: Str | None = None
    python_version_constraint: Str | None = None


class TestFile(Strict):
    file_path: Str | None = None
    file_contents: Str | None = None


class TestBasedScorer(Strict):
    type: Literal["test_based_scorer"] = "test_based_scorer"
    test_files: list[TestFile] | None = None
    test_command: Str | None = None


ScorerSpec = Annotated[
    AstGrepScorer
    | BashScriptScorer
    | CommandScorer
    | CustomScorer
    | PythonScriptScorer
    | TestBasedScorer,
    Field(discriminator="type"),
]
SCORER_TYPES: tuple[str, ...] = (
    "ast_grep_scorer",
    "bash_script_scorer",
    "command_scorer",
    "custom_scorer",
    "python_script_scorer",
    "test_based_scorer",
)


class ScoringFunction(Strict):
    name: Str
    scorer: ScorerSpec
    weight: Float

    @field_validator("name")
    @classmethod
    def _name_chars(cls, value: str) -> str:
        if not SCORER_NAME_RE.match(value):
            raise ValueError(f"scorer name {value!r} may only contain letters, digits, '_' and '-'")
        return value

    @field_validator("weight")
    @classmethod
    def _weight_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"weight must be greater than 0, got {value:g}")
        return value


class ScoringContract(Strict):
    scoring_function_parameters: list[ScoringFunction]

    @model_validator(mode="after")
    def _weights_and_names(self) -> ScoringContract:
        functions = self.scoring_function_parameters
        if not functions:
            raise ValueError("a scenario needs at least one scoring function")
        seen: set[str] = set()
        for function in functions:
            if function.name in seen:
                raise ValueError(f"scorer name {function.name!r} is used more than once")
            seen.add(function.name)
        total = sum(f.weight for f in functions)
        if not weights_sum_ok(total):
            raise ValueError(
                f"weights sum to {total:g}; they must sum to 1.0 (within {WEIGHT_TOLERANCE})"
            )
        return self

    def by_name(self, name: str) -> ScoringFunction:
        for function in self.scoring_function_parameters:
            if function.name == name:
                return function
        raise KeyError(name)


# --------------------------------------------------------------------------- environment


class InputContext(Strict):
    problem_statement: Str
    additional_context: dict[str, Any] | None = None


class IdleConfiguration(Strict):
    idle_time_seconds: PositiveInt32
    on_idle: IdleAction


class UserParameters(Strict):
    username: Str
    uid: NonNegativeInt32

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME_RE.match(value):
            raise ValueError(
                f"username {value!r} must start with a lower-case letter or '_' and contain"
                " only a-z, 0-9, '_' and '-' (at most 32 characters)"
            )
        return value


class ResumeTriggers(Strict):
    http: StrictBool | None = None
    axon_event: StrictBool | None = None


class LifecycleConfiguration(Strict):
    after_idle: IdleConfiguration | None = None
    resume_triggers: ResumeTriggers | None = None


class LaunchParameters(Strict):
    launch_commands: list[Str] | None = None
    resource_size_request: ResourceSize | None = None
    available_ports: list[Int32] | None = None  # deprecated upstream; kept, never used
    keep_alive_time_seconds: (
        Annotated[int, Field(strict=True, gt=0, le=MAX_KEEP_ALIVE_SECONDS)] | None
    ) = None
    after_idle: IdleConfiguration | None = None
    # The schema types this as an integer, but its own rule allows 0.5 cores.
    custom_cpu_cores: Float | None = None
    custom_gb_memory: PositiveInt32 | None = None
    custom_disk_size: PositiveInt32 | None = None
    architecture: Architecture | None = None
    user_parameters: UserParameters | None = None
    required_services: list[Str] | None = None
    network_policy_id: Str | None = None
    lifecycle: LifecycleConfiguration | None = None

    @field_validator("custom_cpu_cores")
    @classmethod
    def _cpu(cls, value: float | None) -> float | None:
        if value is not None:
            check_custom_cpu(value)
        return value

    @field_validator("custom_gb_memory")
    @classmethod
    def _memory(cls, value: int | None) -> int | None:
        if value is not None:
            check_custom_memory(value)
        return value

    @field_validator("custom_disk_size")
    @classmethod
    def _disk(cls, value: int | None) -> int | None:
        if value is not None:
            check_custom_disk(value)
        return value

    @field_serializer("custom_cpu_cores")
    def _cpu_out(self, value: float | None) -> float | int | None:
        # Integral core counts go out as integers, as the schema types them.
        return int(value) if value is not None and value == int(value) else value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> LaunchParameters:
        custom = {
            "custom_cpu_cores": self.custom_cpu_cores,
            "custom_gb_memory": self.custom_gb_memory,
            "custom_disk_size": self.custom_disk_size,
        }
        if self.resource_size_request == ResourceSize.CUSTOM_SIZE:
            missing = [k for k in ("custom_cpu_cores", "custom_gb_memory") if custom[k] is None]
            if missing:
                raise ValueError(f"CUSTOM_SIZE needs {' and '.join(missing)}")
            assert self.custom_cpu_cores is not None and self.custom_gb_memory is not None
            check_ratio(self.custom_cpu_cores, self.custom_gb_memory)
        else:
            given = [k for k, v in custom.items() if v is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply with resource_size_request = 'CUSTOM_SIZE'"
                )
        if (
            self.after_idle is not None
            and self.lifecycle is not None
            and self.lifecycle.after_idle is not None
            and self.after_idle != self.lifecycle.after_idle
        ):
            raise ValueError(
                "after_idle and lifecycle.after_idle are both set and differ; they must be equal"
            )
        return self

    def resources(self) -> Resources:
        size = self.resource_size_request or DEFAULT_SIZE
        if size == ResourceSize.CUSTOM_SIZE:
            assert self.custom_cpu_cores is not None and self.custom_gb_memory is not None
            return Resources(
                self.custom_cpu_cores,
                self.custom_gb_memory,
                self.custom_disk_size or DEFAULT_CUSTOM_DISK_GIB,
            )
        return PRESETS[size]

    def idle_policy(self) -> IdleConfiguration | None:
        """The effective idle policy: ``lifecycle.after_idle`` wins (they must agree anyway)."""
        if self.lifecycle is not None and self.lifecycle.after_idle is not None:
            return self.lifecycle.after_idle
        return self.after_idle


class ScenarioEnvironment(Strict):
    blueprint_id: Str | None = None
    snapshot_id: Str | None = None
    launch_parameters: LaunchParameters | None = None
    working_directory: Str | None = None

    @field_validator("working_directory")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"working_directory must be an absolute path, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_image_source(self) -> ScenarioEnvironment:
        if self.blueprint_id and self.snapshot_id:
            raise ValueError("set blueprint_id or snapshot_id, not both")
        return self


def _check_env_names(values: list[str] | None, what: str) -> list[str] | None:
    for value in values or ():
        if not ENV_NAME_RE.match(value):
            raise ValueError(
                f"{what} {value!r} is not a valid name (letters, digits and '_', not starting"
                " with a digit)"
            )
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{what}s are listed more than once")
    return values


# --------------------------------------------------------------------------- scenario


class Scenario(Strict):
    """A scenario as authored and exported (Runloop's create parameters)."""

    name: Str
    input_context: InputContext
    scoring_contract: ScoringContract
    environment_parameters: ScenarioEnvironment | None = None
    metadata: dict[str, Str] | None = None
    reference_output: Str | None = None
    required_environment_variables: list[Str] | None = None
    required_secret_names: list[Str] | None = None
    validation_type: ValidationType | None = None
    scorer_timeout_sec: PositiveInt32 | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be empty")
        if value != value.strip():
            raise ValueError("name must not start or end with whitespace")
        if "\n" in value:
            raise ValueError("name must be a single line")
        return value

    @field_validator("required_environment_variables")
    @classmethod
    def _env_names(cls, value: list[str] | None) -> list[str] | None:
        return _check_env_names(value, "environment variable")

    @field_validator("required_secret_names")
    @classmethod
    def _secret_names(cls, value: list[str] | None) -> list[str] | None:
        return _check_env_names(value, "secret name")

    # -- derived views used by the engine and the UI

    @property
    def launch(self) -> LaunchParameters:
        env = self.environment_parameters
        return (env.launch_parameters if env else None) or LaunchParameters()

    @property
    def resources(self) -> Resources:
        return self.launch.resources()

    @property
    def size(self) -> ResourceSize:
        return self.launch.resource_size_request or DEFAULT_SIZE

    @property
    def architecture(self) -> Architecture:
        return self.launch.architecture or Architecture.X86_64

    @property
    def timeout_sec(self) -> int:
        return self.scorer_timeout_sec or DEFAULT_SCORER_TIMEOUT_SEC

    @property
    def scorers(self) -> list[ScoringFunction]:
        return self.scoring_contract.scoring_function_parameters

    def to_dict(self) -> dict[str, Any]:
        """The export form: JSON types, unset fields omitted."""
        return self.model_dump(mode="json", exclude_none=True)


class ScenarioView(Strict):
    """A scenario as Runloop's list/get endpoints return it; accepted on import."""

    id: Str | None = None
    name: Str
    input_context: InputContext
    scoring_contract: ScoringContract
    environment: ScenarioEnvironment | None = None
    metadata: dict[str, Str] | None = None
    reference_output: Str | None = None
    required_environment_variables: list[Str] | None = None
    required_secret_names: list[Str] | None = None
    is_public: StrictBool | None = None
    validation_type: ValidationType | None = None
    scorer_timeout_sec: PositiveInt32 | None = None
    status: Str | None = None

    def to_scenario(self) -> Scenario:
        data = self.model_dump(exclude_none=True, exclude={"id", "is_public", "status"})
        if "environment" in data:
            data["environment_parameters"] = data.pop("environment")
        return Scenario.model_validate(data)

    @classmethod
    def from_scenario(cls, scenario_id: str, scenario: Scenario) -> ScenarioView:
        data = scenario.model_dump(exclude_none=True)
        if "environment_parameters" in data:
            data["environment"] = data.pop("environment_parameters")
        return cls.model_validate({"id": scenario_id, "is_public": False, **data})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ScenarioListView(Strict):
    """Runloop's list response; ``sandbench scenarios list --json`` prints this shape."""

    scenarios: list[ScenarioView]
    has_more: StrictBool = False
    total_count: int | None = None
    remaining_count: int | None = None
