# The explorer as a container (ECS Fargate behind an HTTPS load balancer: infra/explorer.yaml).
# It cannot be built on the project's CI machines (no base-image registry there); hadolint checks it
# (tests/infra/test_explorer_stack.py) and the entrypoint is tested as Python.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AUDITLOG_BACKEND=athena \
    AUDITLOG_RUNTIME_DIR=/tmp/auditlog-explorer

WORKDIR /app
COPY requirements.txt pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.txt
COPY audit_events/ audit_events/
COPY audit_query/ audit_query/
COPY etl/ etl/
COPY auditlog/ auditlog/
COPY explorer/ explorer/
COPY pages/ pages/
COPY app.py serve.py ./
COPY .streamlit/config.toml .streamlit/config.toml
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 explorer

USER 10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"]
ENTRYPOINT ["python", "-m", "explorer.entrypoint"]
