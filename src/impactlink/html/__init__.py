"""What the HTML report is made of: its charts (charts.py) and the stylesheet and script
it inlines (report.css, report.js), read with importlib.resources."""
