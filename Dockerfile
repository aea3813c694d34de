# Image for every role of the service; the command picks the role.
# NOTE: not built or run on the development machine, which has no Docker engine.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8000
CMD ["vending", "gateway", "--host", "0.0.0.0", "--port", "8000"]
