// The REST API calls the page makes: sign-up, sign-in and the first reads.

export class ApiError extends Error {
  // `error` is `{code, detail}` as the API's problem details carry them.
  constructor(error, status) {
    super(error.detail || error.code);
    this.error = error;
    this.status = status;
  }
}

async function call(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError({ code: "OFFLINE", detail: "Cannot reach the machine. Check your connection" }, 0);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = data.code || (response.status === 401 ? "UNAUTHORIZED" : `HTTP_${response.status}`);
    const detail = data.detail || data.title || `the server answered ${response.status}`;
    throw new ApiError({ code, detail }, response.status);
  }
  return data;
}

// Create an account; resolves to the new user `{id, username, role, deposit}`.
export function signUp(username, password, role) {
  return call("POST", "/users", { body: { username, password, role } });
}

// Sign in; resolves to `{access_token, expires_at, ...}`.
export function signIn(username, password, role) {
  return call("POST", "/auth/login", { body: { username, password, role } });
}

// Return every product, oldest first, following the API's cursor.
export async function listProducts() {
  const items = [];
  let cursor = null;
  do {
    const query = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : "?limit=200";
    const page = await call("GET", `/products${query}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// End every session of the caller's account, this one too; resolves to `{ended}`.
export function signOutEverywhere(token) {
  return call("POST", "/auth/logout/all", { token });
}

// Return the server's minimum password length for new accounts, from its OpenAPI document.
export async function passwordMinLength() {
  const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new ApiError({ code: `HTTP_${response.status}`, detail: "" }, response.status);
  const document = await response.json();
  return document.components.schemas.UserCreate.properties.password.minLength;
}
