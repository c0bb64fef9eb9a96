FROM python:3.11-slim
WORKDIR /gridq
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock
COPY gridq ./gridq
COPY params.yaml ./
COPY stages ./stages
# The example bundles' tariff files.
COPY data/tariffs ./data/tariffs
RUN pip install --no-cache-dir --no-deps .
# The default job: build one example bundle and backtest it.
CMD ["sh", "-c", "gridq generate pv_battery_tou --out bundles/pv_battery_tou && gridq backtest bundles/pv_battery_tou"]
