"""``python -m analysis.results_model > analysis/results.schema.json``: write the generated schema."""

from analysis.results_model.schema import schema_text

print(schema_text(), end="")
