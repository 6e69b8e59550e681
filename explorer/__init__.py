"""Streamlit-side helpers of the explorer (app.py, pages/): settings, sign-in, URL state, data, widgets.

Everything that touches data goes through `audit_query`; modules here that import Streamlit are used only by
the app. `config`, `auth`, `state` and `fmt` are plain Python and unit-testable without a running app.
"""
