"""Presentation shared by the report core and the checks' own sections: formatting, view
types and matplotlib figures. It computes nothing about the model; it only shows."""
