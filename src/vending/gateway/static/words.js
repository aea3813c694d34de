// Sentences a person can act on, for the error codes of the service and for money. The page's
// own sentences show money the way the machine's display does, as 0.65.

const SENTENCES = {
  BAD_INPUT: "Some of what you entered is not valid.",
  BAD_MESSAGE: "The page sent a request the machine did not understand.",
  unauthorized: "Your session has ended. Please sign in again.",
  UNAUTHORIZED: "Your session has ended. Please sign in again.",
  INVALID_CREDENTIALS: "Wrong username, password or role.",
  INVALID_ROLE_USERNAME: "Wrong username, password or role.",
  INVALID_PASSWORD: "Wrong username, password or role.",
  DUPLICATE_USERNAME: "That username is already taken for this role. Pick another one.",
  TOO_MANY_ATTEMPTS: "Too many failed sign-ins. Wait a minute, then try again.",
  TOO_MANY_REQUESTS: "Too many failed sign-ins. Wait a minute, then try again.",
  DEPOSIT_BUYERS_ONLY: "Only buyers can insert coins.",
  WRONG_AMOUNT: "The machine takes only 0.05, 0.10, 0.20, 0.50 and 1.00 coins.",
  SELL_SELLERS_ONLY: "Only sellers can add or change products.",
  WRONG_COST: "The price must be a multiple of 0.05.",
  PRODUCT_NOT_FOUND: "That product is no longer in the machine.",
  NOT_PRODUCT_OWNER: "Only the seller who added this product can change it.",
  BUY_BUYERS_ONLY: "Only buyers can buy.",
  EMPTY_STOCK: "That product is sold out.",
  INSUFFICIENT_STOCK: "There are not that many left.",
  INSUFFICIENT_DEPOSIT: "Not enough credit. Insert more coins first.",
  RESET_BUYERS_ONLY: "Only buyers have coins to return.",
  USER_NOT_FOUND: "That account does not exist any more.",
  NOT_FOUND: "The machine does not know that request.",
  UNAVAILABLE: "The machine is busy. Please try again.",
  INTERNAL_ERROR: "Something went wrong inside the machine. Please try again.",
  OFFLINE: "The machine cannot be reached right now.",
};

// Codes whose server detail adds facts to the sentence: the rule a value broke, or the fault
// of a request the page did not expect. The details of other codes repeat the sentence.
const DETAIL_ADDS_FACTS = new Set(["BAD_INPUT", "BAD_MESSAGE"]);

// Return a message for an error `{code, detail}`: a sentence for the code, then the detail
// when it adds facts. A code without a sentence shows its detail alone.
export function describeError(error) {
  const sentence = SENTENCES[error.code];
  const detail = error.detail ? capitalize(error.detail) : "";
  if (!sentence) return detail ? `${detail}.` : "Something went wrong. Please try again.";
  if (detail && DETAIL_ADDS_FACTS.has(error.code) && !sameText(sentence, detail)) {
    return `${sentence} ${detail}.`;
  }
  return sentence;
}

// Return a message for a failed purchase of `amount` × `product` with `credit` cents, with
// the amounts worked out from the request's own numbers. When the page's numbers do not show
// the fault (another page spent the credit first), the message is the code's sentence.
export function describeBuyError(error, product, amount, credit) {
  const price = product.cost * amount;
  if (error.code === "INSUFFICIENT_DEPOSIT" && price > credit) {
    return (
      `Not enough credit: ${amount} × ${product.product_name} cost ${money(price)}, ` +
      `your credit is ${money(credit)}. Insert ${money(price - credit)} more.`
    );
  }
  if (error.code === "INSUFFICIENT_STOCK" && amount > product.amount_available) {
    return `There are not that many left: you asked for ${amount}, ${product.amount_available} left.`;
  }
  return describeError(error);
}

// Return cents as a price with two decimals, for example 105 -> "1.05".
export function money(cents) {
  return (cents / 100).toFixed(2);
}

// Return the label of a coin, for example 5 -> "0.05" and 100 -> "1.00".
export function coinLabel(cents) {
  return money(cents);
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1).replace(/\.$/, "");
}

function sameText(a, b) {
  return a.toLowerCase().replace(/\W/g, "") === b.toLowerCase().replace(/\W/g, "");
}
