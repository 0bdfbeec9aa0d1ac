"""Search spaces: parameters, conditions, forbidden combinations, and the readers that build them.

Readers: :func:`space_from_mapping` (job file ``parameters``), :func:`read_pcs` (SMAC PCS,
classic and new), :func:`read_parameter_ranges` (a cloud tuning job's ``ParameterRanges``
JSON) and :func:`load_space_file`, which picks one from the file's content.
:class:`SpaceRecord` is the resolved space as a value a job stores.
"""

from tuneforge.space.conditions import (
    AllOf,
    AnyOf,
    Condition,
    Equals,
    GreaterThan,
    InSet,
    LessThan,
    NotEquals,
)
from tuneforge.space.files import load_space_file
from tuneforge.space.mapping import space_from_mapping
from tuneforge.space.parameters import Categorical, Float, Int, Parameter, Scalar
from tuneforge.space.pcs import read_pcs, read_pcs_file
from tuneforge.space.ranges import read_parameter_ranges
from tuneforge.space.record import ParameterRecord, ParameterType, SpaceRecord
from tuneforge.space.search_space import SearchSpace

__all__ = [
    "AllOf",
    "AnyOf",
    "Categorical",
    "Condition",
    "Equals",
    "Float",
    "GreaterThan",
    "InSet",
    "Int",
    "LessThan",
    "NotEquals",
    "Parameter",
    "ParameterRecord",
    "ParameterType",
    "Scalar",
    "SearchSpace",
    "SpaceRecord",
    "load_space_file",
    "read_parameter_ranges",
    "read_pcs",
    "read_pcs_file",
    "space_from_mapping",
]
