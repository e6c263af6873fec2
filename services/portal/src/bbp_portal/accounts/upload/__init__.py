"""Bulk upload of bill accounts: parse (pure), validate (pure), stage and import (database).

``parse`` turns the bytes of a CSV or XLSX file into raw rows with their line numbers;
``rules`` normalises and checks every cell and reports each problem at its line and column;
``service`` stages the result server-side so that the import stores exactly what the admin
saw in the report.
"""
