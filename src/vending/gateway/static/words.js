// Sentences a person can act on, for the error codes of the service and for money.

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
  WRONG_AMOUNT: "The machine takes only 5, 10, 20, 50 and 100 cent coins.",
  SELL_SELLERS_ONLY: "Only sellers can add or change products.",
  WRONG_COST: "The price must be a multiple of 5 cents.",
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

// Return a message for an error `{code, detail}`: a sentence for the code, then the detail.
export function describeError(error) {
  const sentence = SENTENCES[error.code];
  const detail = error.detail ? capitalize(error.detail) : "";
  if (sentence && detail && !sameText(sentence, detail)) return `${sentence} (${detail}.)`;
  return sentence || (detail ? `${detail}.` : "Something went wrong. Please try again.");
}

// Return cents as a price with two decimals, for example 105 -> "1.05".
export function money(cents) {
  return (cents / 100).toFixed(2);
}

// Return the label of a coin, for example 5 -> "5¢" and 100 -> "1.00".
export function coinLabel(cents) {
  return cents >= 100 ? money(cents) : `${cents}¢`;
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1).replace(/\.$/, "");
}

function sameText(a, b) {
  return a.toLowerCase().replace(/\W/g, "") === b.toLowerCase().replace(/\W/g, "");
}
