// The vending machine page: sign-in, the product window, coins, change tray and seller tools.
// Names that users typed are always set with textContent, never parsed as HTML.

import {
  ApiError,
  listProducts,
  passwordMinLength,
  signIn,
  signOutEverywhere,
  signUp,
} from "./api.js";
import { Live } from "./live.js";
import { coinLabel, describeBuyError, describeError, money } from "./words.js";

const COINS = [5, 10, 20, 50, 100];
const COST_MAX = 1_000_000;
const STOCK_MAX = 1_000_000_000;
const PASSWORD_MAX_LENGTH = 128;
const TOKEN_KEY = "vending.token";
const SHARED_KEY = "vending.shared";

const state = {
  mode: "login",
  user: null,
  live: null,
  products: new Map(),
  credit: 0,
  // The server's minimum password length, once read from its OpenAPI document.
  passwordMin: null,
};

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- messages

function show(target, text, kind) {
  const node = $(target);
  node.textContent = text;
  node.className = `notice ${kind}`;
  node.hidden = false;
}

function showError(target, error) {
  show(target, describeError(error), "error");
}

// ---------------------------------------------------------------- sign-in

function setMode(mode) {
  state.mode = mode;
  const signup = mode === "signup";
  $("tab-login").setAttribute("aria-selected", String(!signup));
  $("tab-signup").setAttribute("aria-selected", String(signup));
  $("auth-title").textContent = signup ? "Create an account" : "Sign in";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("password").autocomplete = signup ? "new-password" : "current-password";
  $("password-hint").hidden = !signup;
  $("auth-message").hidden = true;
}

async function loadPasswordRule() {
  try {
    state.passwordMin = await passwordMinLength();
    $("password-hint").textContent =
      `Passwords are ${state.passwordMin} to ${PASSWORD_MAX_LENGTH} characters.`;
  } catch {
    // Without the document the server's own rule shows when a sign-up is rejected.
    $("password-hint").textContent = `Passwords are at most ${PASSWORD_MAX_LENGTH} characters.`;
  }
}

function checkCredentials(username, password) {
  if (!/^[A-Za-z0-9_.-]{3,32}$/.test(username)) {
    return "The username must be 3 to 32 letters, digits, “_”, “.” or “-”.";
  }
  const min = state.mode === "signup" && state.passwordMin ? state.passwordMin : 1;
  if (password.length < min || password.length > PASSWORD_MAX_LENGTH) {
    return min > 1
      ? `The password must be ${min} to ${PASSWORD_MAX_LENGTH} characters long.`
      : `Enter a password of up to ${PASSWORD_MAX_LENGTH} characters.`;
  }
  return null;
}

async function submitCredentials(event) {
  event.preventDefault();
  const form = $("auth-form");
  const username = form.username.value.trim();
  const password = form.password.value;
  const role = form.role.value;
  const fault = checkCredentials(username, password);
  if (fault) {
    show("auth-message", fault, "error");
    return;
  }
  $("auth-submit").disabled = true;
  show("auth-message", state.mode === "signup" ? "Creating your account…" : "Signing in…", "info");
  try {
    if (state.mode === "signup") await signUp(username, password, role);
    const session = await signIn(username, password, role);
    localStorage.setItem(TOKEN_KEY, session.access_token);
    // The login reports other sessions only once, so the flag is kept for a reload.
    if (session.active_sessions > 1) localStorage.setItem(SHARED_KEY, "1");
    else localStorage.removeItem(SHARED_KEY);
    form.password.value = "";
    $("auth-message").hidden = true;
    start(session.access_token);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showError("auth-message", error.error);
  } finally {
    $("auth-submit").disabled = false;
  }
}

// Return to the sign-in form. `reason` is an error `{code, detail}` or null. When there is no
// error, the sentence `note` tells the person why the session ended.
function showSignIn(reason, note = null) {
  if (state.live) state.live.stop();
  state.live = null;
  state.user = null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(SHARED_KEY);
  $("machine").hidden = true;
  $("who").hidden = true;
  $("session-note").hidden = true;
  $("auth").hidden = false;
  setMode("login");
  if (reason) showError("auth-message", reason);
  else if (note) show("auth-message", note, "info");
  $("username").focus();
}

async function signOutAll() {
  const token = localStorage.getItem(TOKEN_KEY);
  const button = $("sign-out-all");
  button.disabled = true;
  // The page stops its own connection first, so that the end of its session reads as the
  // result of this click and not as an expired session.
  if (state.live) state.live.stop();
  state.live = null;
  try {
    const result = await signOutEverywhere(token);
    const others = result.ended - 1;
    const where = others === 1 ? "1 other place" : `${others} other places`;
    const note =
      others > 0
        ? `You are signed out everywhere: this page and ${where}.`
        : "You are signed out. No other place was still signed in.";
    showSignIn(null, note);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showSignIn(error.status === 401 ? null : error.error, "Your session had already ended.");
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- session

function start(token) {
  $("auth").hidden = true;
  $("machine").hidden = false;
  show("machine-message", "Connecting to the machine…", "info");
  state.live = new Live(token, {
    onWelcome: welcome,
    onPush: pushed,
    onLink: (link) => {
      $("link-state").textContent = link;
      $("link-state").dataset.state = link;
    },
    onSignedOut: (reason) => showSignIn(reason),
  });
  state.live.connect();
}

async function welcome(user) {
  state.user = user;
  document.body.dataset.role = user.role;
  $("who").hidden = false;
  $("who-name").textContent = user.username;
  $("who-role").textContent = user.role;
  setCredit(user.deposit);
  $("session-note").hidden = localStorage.getItem(SHARED_KEY) !== "1";
  try {
    const products = await listProducts();
    state.products.clear();
    $("slots").replaceChildren();
    $("own").replaceChildren();
    for (const product of products) putProduct(product);
    refreshEmpty();
    $("machine-message").hidden = true;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showError("machine-message", error.error);
  }
}

function pushed(message) {
  if (message.type === "product") {
    putProduct(message.product);
  } else if (message.type === "product_deleted") {
    removeProduct(message.id);
  } else if (message.type === "balance") {
    setCredit(message.deposit);
  } else if (message.type === "sale") {
    addSale(message);
  }
  refreshEmpty();
}

// Send a request and show "working" until its status arrives. Resolves to the result (`{}`
// for a request whose result is empty), or to null after showing the error, in the words
// that `describe(error)` returns.
async function perform(op, fields, working, describe = describeError) {
  show("machine-message", working, "info");
  const status = await state.live.request(op, fields, () => {
    show("machine-message", `${working} (queued, waiting for the machine)`, "info");
  });
  if (status.state === "failed") {
    show("machine-message", describe(status.error), "error");
    return null;
  }
  $("machine-message").hidden = true;
  return status.result ?? {};
}

// ---------------------------------------------------------------- buyer

function setCredit(cents) {
  state.credit = cents;
  $("credit").textContent = money(cents);
}

function buildCoins() {
  for (const coin of COINS) {
    const button = element("button", "coin", coinLabel(coin));
    button.type = "button";
    button.dataset.coin = String(coin);
    button.setAttribute("aria-label", `Insert ${coinLabel(coin)}`);
    button.addEventListener("click", () => insertCoin(coin));
    $("coins").append(button);
  }
}

async function insertCoin(coin) {
  const result = await perform("deposit", { coin }, `Inserting ${coinLabel(coin)}…`);
  if (result) setCredit(result.deposit);
}

async function buy(product, amountInput) {
  const amount = Number(amountInput.value);
  if (!Number.isInteger(amount) || amount < 1 || amount > STOCK_MAX) {
    show("machine-message", "Choose how many to buy: a whole number of at least 1.", "error");
    return;
  }
  const credit = state.credit;
  const result = await perform(
    "buy",
    { product_id: product.id, amount },
    `Buying ${amount} × ${product.product_name}…`,
    (error) => describeBuyError(error, product, amount, credit),
  );
  if (!result) return;
  setCredit(result.deposit);
  fillTray(result.change);
  const line = `${result.amount} × ${result.product.product_name} for ${money(result.spent)}`;
  addLog("purchases", line);
  show("machine-message", `Enjoy: ${line}.`, "success");
}

async function returnCoins() {
  const result = await perform("reset", {}, "Returning your coins…");
  if (!result) return;
  setCredit(result.deposit);
  fillTray(result.change);
  const text = result.change.length ? "Your coins are in the change tray." : "There was no credit to return.";
  show("machine-message", text, "success");
}

function fillTray(change, emptyText = "no change") {
  const tray = $("tray");
  tray.replaceChildren();
  if (change.length === 0) {
    tray.append(element("span", "empty", emptyText));
  }
  for (const coin of change) tray.append(element("span", "coin returned", coinLabel(coin)));
  $("take-change").hidden = change.length === 0;
}

function addLog(listId, text) {
  const list = $(listId);
  list.querySelector(".empty")?.remove();
  list.prepend(element("li", "", text));
}

// ---------------------------------------------------------------- products

function putProduct(product) {
  const known = state.products.get(product.id);
  state.products.set(product.id, product);
  if (known) {
    updateSlot(product);
    updateOwn(product);
    return;
  }
  $("slots").append(buildSlot(product));
  if (state.user && product.seller_id === state.user.id) $("own").append(buildOwn(product));
}

function removeProduct(id) {
  state.products.delete(id);
  document.querySelector(`.slot[data-id="${CSS.escape(id)}"]`)?.remove();
  document.querySelector(`.own-row[data-id="${CSS.escape(id)}"]`)?.remove();
}

function buildSlot(product) {
  const slot = element("li", "slot");
  slot.dataset.id = product.id;
  const name = element("span", "name");
  const price = element("span", "price");
  const stock = element("span", "stock");
  const amount = element("input", "amount");
  amount.type = "number";
  amount.min = "1";
  amount.value = "1";
  amount.inputMode = "numeric";
  const buyButton = element("button", "buy buyer-only", "Buy");
  buyButton.type = "button";
  buyButton.addEventListener("click", () => buy(state.products.get(product.id), amount));
  const label = element("label", "buyer-only quantity", "Qty ");
  label.append(amount);
  slot.append(name, price, stock, label, buyButton);
  fillSlot(slot, product);
  return slot;
}

function fillSlot(slot, product) {
  slot.querySelector(".name").textContent = product.product_name;
  slot.querySelector(".price").textContent = money(product.cost);
  const left = product.amount_available;
  slot.querySelector(".stock").textContent = left === 0 ? "sold out" : `${left} left`;
  slot.classList.toggle("sold-out", left === 0);
  const amountLabel = `Quantity of ${product.product_name}`;
  slot.querySelector(".amount").setAttribute("aria-label", amountLabel);
  slot.querySelector(".buy").setAttribute("aria-label", `Buy ${product.product_name}`);
}

function updateSlot(product) {
  const slot = document.querySelector(`.slot[data-id="${CSS.escape(product.id)}"]`);
  if (slot) fillSlot(slot, product);
}

// ---------------------------------------------------------------- seller

function buildOwn(product) {
  const row = element("li", "own-row");
  row.dataset.id = product.id;
  const form = element("form", "edit-form");
  form.noValidate = true;

  const fields = [
    ["product_name", "Name", "text"],
    ["cost", "Price (cents)", "number"],
    ["amount_available", "Stock", "number"],
  ];
  for (const [name, text, type] of fields) {
    const label = element("label", "", `${text} `);
    const input = element("input");
    input.name = name;
    input.type = type;
    label.append(input);
    if (name === "cost") label.append(pricePreview(input));
    form.append(label);
  }

  const save = element("button", "primary", "Save");
  save.type = "submit";
  const remove = element("button", "danger", "Delete");
  remove.type = "button";
  form.append(save, remove, buildConfirm(row, remove));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveProduct(product.id, form);
  });
  remove.addEventListener("click", () => askToDelete(row, remove));
  row.append(form);
  fillOwn(row, product, true);
  return row;
}

// Return an <output> that shows the cents typed into `input` as money, and keeps it current.
function pricePreview(input) {
  const preview = element("output", "preview");
  preview.setAttribute("aria-live", "polite");
  const refresh = () => {
    const cents = Number(input.value);
    preview.textContent = input.value !== "" && Number.isInteger(cents) ? `= ${money(cents)}` : "";
  };
  input.addEventListener("input", refresh);
  input.refreshPreview = refresh;
  return preview;
}

// Return the hidden question that a click on Delete shows: delete, or keep the product.
function buildConfirm(row, remove) {
  const confirm = element("div", "confirm");
  confirm.hidden = true;
  const question = element("span", "question");
  const yes = element("button", "danger", "Yes, delete");
  yes.type = "button";
  const keep = element("button", "secondary", "Keep it");
  keep.type = "button";
  yes.addEventListener("click", () => {
    confirm.hidden = true;
    remove.hidden = false;
    deleteProduct(row.dataset.id);
  });
  keep.addEventListener("click", () => {
    confirm.hidden = true;
    remove.hidden = false;
    remove.focus();
  });
  confirm.append(question, yes, keep);
  return confirm;
}

function askToDelete(row, remove) {
  const product = state.products.get(row.dataset.id);
  const confirm = row.querySelector(".confirm");
  confirm.querySelector(".question").textContent =
    `Delete ${product.product_name} from the machine?`;
  remove.hidden = true;
  confirm.hidden = false;
  confirm.querySelector(".danger").focus();
}

function fillOwn(row, product, force) {
  const form = row.querySelector("form");
  for (const name of ["product_name", "cost", "amount_available"]) {
    const input = form.elements[name];
    if (force || document.activeElement !== input) input.value = String(product[name]);
  }
  form.elements.cost.refreshPreview();
}

function updateOwn(product) {
  const row = document.querySelector(`.own-row[data-id="${CSS.escape(product.id)}"]`);
  if (row) fillOwn(row, product, false);
}

function readProductForm(form) {
  const name = form.elements.product_name.value.trim();
  const cost = Number(form.elements.cost.value);
  const stock = Number(form.elements.amount_available.value);
  if (name.length < 1 || name.length > 64) return { fault: "The name must be 1 to 64 characters." };
  const costText = form.elements.cost.value;
  if (costText === "" || !Number.isInteger(cost) || cost < 5 || cost > COST_MAX || cost % 5 !== 0) {
    const entered = costText !== "" && Number.isInteger(cost) ? ` ${money(cost)} is not.` : "";
    return {
      fault:
        `The price must be a multiple of 0.05 from 0.05 to ${money(COST_MAX)}.${entered}` +
        " Enter it in cents: 35 is 0.35.",
    };
  }
  const stockText = form.elements.amount_available.value;
  if (stockText === "" || !Number.isInteger(stock) || stock < 0 || stock > STOCK_MAX) {
    return { fault: `The stock must be a whole number from 0 to ${STOCK_MAX}.` };
  }
  return { fields: { product_name: name, cost, amount_available: stock } };
}

async function addProduct(event) {
  event.preventDefault();
  const form = $("add-form");
  const { fault, fields } = readProductForm(form);
  if (fault) {
    show("machine-message", fault, "error");
    return;
  }
  const result = await perform("create_product", fields, `Adding ${fields.product_name}…`);
  if (!result) return;
  putProduct(result);
  refreshEmpty();
  form.reset();
  form.elements.cost.refreshPreview();
  show("machine-message", `${result.product_name} is in the machine.`, "success");
}

async function saveProduct(id, form) {
  const { fault, fields } = readProductForm(form);
  if (fault) {
    show("machine-message", fault, "error");
    return;
  }
  const result = await perform("update_product", { id, ...fields }, `Saving ${fields.product_name}…`);
  if (!result) return;
  putProduct(result);
  show("machine-message", `${result.product_name} is saved.`, "success");
}

async function deleteProduct(id) {
  const product = state.products.get(id);
  const result = await perform("delete_product", { id }, `Removing ${product.product_name}…`);
  if (!result) return;
  removeProduct(id);
  refreshEmpty();
  show("machine-message", `${product.product_name} is removed.`, "success");
}

function addSale(sale) {
  const line =
    `Sold ${sale.amount} × ${sale.product.product_name} for ${money(sale.spent)}` +
    ` (${sale.amount_available} left)`;
  addLog("sales", line);
}

function refreshEmpty() {
  $("window-empty").hidden = state.products.size > 0;
  $("own-empty").hidden = $("own").children.length > 0;
}

// ---------------------------------------------------------------- start

function main() {
  buildCoins();
  $("tab-login").addEventListener("click", () => setMode("login"));
  $("tab-signup").addEventListener("click", () => setMode("signup"));
  $("auth-form").addEventListener("submit", submitCredentials);
  $("sign-out").addEventListener("click", async () => {
    if (state.live) await state.live.request("logout");
    showSignIn(null);
  });
  $("reset").addEventListener("click", returnCoins);
  $("take-change").addEventListener("click", () => fillTray([], "empty"));
  $("add-form").addEventListener("submit", addProduct);
  $("add-form").elements.cost.after(pricePreview($("add-form").elements.cost));
  $("sign-out-all").addEventListener("click", signOutAll);
  loadPasswordRule();

  const token = localStorage.getItem(TOKEN_KEY);
  if (token) start(token);
  else showSignIn(null);
}

main();
