from gridq.cli import app

app(prog_name="gridq")
