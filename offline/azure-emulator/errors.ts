/**
 * Error bodies exactly as Azure sends them.
 *
 * IMDS (managed identity token endpoint) errors are `{"error": "...", "error_description": "..."}`:
 *   MicrosoftDocs/entra-docs docs/identity/managed-identities-azure-resources/how-to-use-vm-token.md,
 *   section "Error handling" / "HTTP response reference"
 *   (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling).
 *   The wire values for a missing Metadata header and for a VM without that identity are the ones
 *   Microsoft's own SDK tests replay (azure-sdk-for-net Azure.Identity ManagedIdentityCredential IMDS
 *   tests; azure-sdk-for-go azidentity managed identity tests):
 *     400 {"error":"invalid_request","error_description":"Required metadata header not specified"}
 *     400 {"error":"invalid_request","error_description":"Identity not found"}
 *   (the docs' table labels the first one `bad_request_102`; the body on the wire says invalid_request).
 * IMDS api-version errors are the other IMDS shape, from MicrosoftDocs/azure-docs
 *   articles/virtual-machines/instance-metadata-service.md, "Versioning".
 *
 * ARM errors are `{"error":{"code":"...","message":"..."}}` (ARM's common error response,
 * azure-rest-api-specs specification/common-types/resource-management/v5/types.json ErrorResponse)
 * with the codes/messages ARM actually returns:
 *   MissingApiVersionParameter  400 "The api-version query parameter (?api-version=) is required for all requests."
 *   AuthenticationFailed        401 "Authentication failed. The 'Authorization' header is missing."
 *   InvalidAuthenticationToken  401 "The access token is invalid."
 *   ExpiredAuthenticationToken  401 "The access token expiry UTC time '8/17/2017 10:54:41 PM' is earlier than current UTC time '8/17/2017 10:55:43 PM'."
 *   InvalidAuthenticationTokenAudience 401 "The access token has been obtained for wrong audience or resource '...'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/',..."
 *   AuthorizationFailed         403 "The client '...' with object id '...' does not have authorization to perform action '...' over scope '...' or the scope is invalid. If access was recently granted, please refresh your credentials."
 *   ResourceGroupNotFound       404 "Resource group '...' could not be found."
 *   SubscriptionNotFound        404 "The subscription '...' could not be found."
 *   SubscriptionRequestsThrottled 429 "Number of 'read' requests for subscription '...' actor '...' exceeded. Please try again after '...' seconds after the last request."
 * (ARM throttling and the Retry-After header: https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling)
 */

import { randomUUID } from "node:crypto";

export interface ImdsErrorBody {
  error: string;
  error_description: string;
}

export interface ArmErrorBody {
  error: { code: string; message: string };
}

export function armError(code: string, message: string): ArmErrorBody {
  return { error: { code, message } };
}

export const IMDS_METADATA_HEADER_REQUIRED: ImdsErrorBody = {
  error: "invalid_request",
  error_description: "Required metadata header not specified",
};
export const IMDS_IDENTITY_NOT_FOUND: ImdsErrorBody = { error: "invalid_request", error_description: "Identity not found" };
export const IMDS_RESOURCE_REQUIRED: ImdsErrorBody = {
  error: "invalid_request",
  error_description: "Required query variable 'resource' is missing",
};

/**
 * API versions that serve /metadata/identity (the identity category was introduced with 2018-02-01),
 * from the "Supported API versions" list of instance-metadata-service.md.
 */
export const IMDS_IDENTITY_API_VERSIONS: readonly string[] = [
  "2018-02-01",
  "2018-04-02",
  "2018-10-01",
  "2019-02-01",
  "2019-03-11",
  "2019-04-30",
  "2019-06-01",
  "2019-06-04",
  "2019-08-01",
  "2019-08-15",
  "2019-11-01",
  "2020-06-01",
  "2020-07-15",
  "2020-09-01",
  "2020-10-01",
  "2020-12-01",
  "2021-01-01",
  "2021-02-01",
  "2021-03-01",
  "2021-05-01",
  "2021-08-01",
  "2021-10-01",
  "2021-11-01",
  "2021-11-15",
  "2021-12-13",
];

export function imdsApiVersionError(missing: boolean): { error: string; "newest-versions": string[] } {
  return {
    error: missing
      ? "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds"
      : "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
    "newest-versions": [...IMDS_IDENTITY_API_VERSIONS].reverse().slice(0, 3),
  };
}

/**
 * Default body for an injected IMDS fault with this status. The shape is the documented one;
 * 400/500 texts are the documented ones, the others (whose bodies Microsoft doesn't document)
 * reuse the status' reason phrase.
 */
export function imdsFaultBody(status: number): ImdsErrorBody {
  switch (status) {
    case 400:
      return IMDS_IDENTITY_NOT_FOUND;
    case 500:
      return {
        error: "unknown",
        error_description: "Failed to retrieve token from the Active directory. For details see logs in C:\\WindowsAzure\\Logs\\Plugins",
      };
    default:
      return { error: `http_${status}`, error_description: httpReason(status) };
  }
}

/** .NET's default `DateTime.ToString()` for en-US, which ARM puts in its expiry message: 8/17/2017 10:54:41 PM. */
export function dotnetUtc(date: Date): string {
  const h24 = date.getUTCHours();
  const h12 = h24 % 12 === 0 ? 12 : h24 % 12;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCMonth() + 1}/${date.getUTCDate()}/${date.getUTCFullYear()} ${h12}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${h24 < 12 ? "AM" : "PM"}`;
}

/**
 * IMDS's 400 when Microsoft Entra ID has no service principal for the requested `resource` in the VM's tenant,
 * e.g. another cloud's ARM endpoint. Body as IMDS relays it (AzureAD/microsoft-authentication-library-for-dotnet
 * issue #3979, "VM Managed Identity throws wrong exception when wrong resource is passed"; the AADSTS500011 text
 * also in Azure/azure-cli#16850).
 */
export function imdsResourceNotFound(resource: string, tenantId: string, now: Date = new Date()): ImdsErrorBody {
  const stamp = now
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  return {
    error: "invalid_resource",
    error_description:
      `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${tenantId}. This can ` +
      `happen if the application has not been installed by the administrator of the tenant or consented to by any ` +
      `user in the tenant. You might have sent your authentication request to the wrong tenant.\r\n` +
      `Trace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: ${stamp}`,
  };
}

/**
 * A continuous access evaluation (CAE) claims challenge from ARM: 401 with
 * `WWW-Authenticate: Bearer ..., error="insufficient_claims", claims="<base64 JSON>"` (Microsoft identity platform,
 * "Claims challenges, claims requests and client capabilities",
 * https://learn.microsoft.com/en-us/entra/identity-platform/claims-challenge, and "Continuous access evaluation",
 * https://learn.microsoft.com/en-us/entra/identity/conditional-access/concept-continuous-access-evaluation).
 * The header and the claims value are the documented example; Microsoft does not document ARM's body for it, so the
 * body is ARM's generic InvalidAuthenticationToken shape.
 */
export function armClaimsChallenge(): { status: 401; headers: Record<string, string>; body: string } {
  return {
    status: 401,
    headers: {
      "WWW-Authenticate":
        'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", ' +
        'claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0="',
    },
    body: JSON.stringify(
      armError("InvalidAuthenticationToken", "The access token requires additional claims (continuous access evaluation)."),
    ),
  };
}

export const DEFAULT_ARM_AUDIENCES: readonly string[] = [
  "https://management.core.windows.net/",
  "https://management.core.windows.net",
  "https://management.azure.com/",
  "https://management.azure.com",
];

export const arm = {
  missingApiVersion: () =>
    armError("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."),
  missingAuthorization: () => armError("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."),
  invalidAuthorizationFormat: () =>
    armError("AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format."),
  invalidToken: () => armError("InvalidAuthenticationToken", "The access token is invalid."),
  expiredToken: (exp: Date, now: Date) =>
    armError(
      "ExpiredAuthenticationToken",
      `The access token expiry UTC time '${dotnetUtc(exp)}' is earlier than current UTC time '${dotnetUtc(now)}'.`,
    ),
  wrongAudience: (aud: string, allowed: readonly string[]) =>
    armError(
      "InvalidAuthenticationTokenAudience",
      `The access token has been obtained for wrong audience or resource '${aud}'. It should exactly match with one of the allowed audiences ${allowed.map((a) => `'${a}'`).join(",")}.`,
    ),
  wrongTenant: (issuer: string, tenantId: string) =>
    armError(
      "InvalidAuthenticationTokenTenant",
      `The access token is from the wrong issuer '${issuer}'. It must match the tenant 'https://sts.windows.net/${tenantId}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${tenantId}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`,
    ),
  authorizationFailed: (clientId: string, objectId: string, action: string, scope: string) =>
    armError(
      "AuthorizationFailed",
      `The client '${clientId}' with object id '${objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    ),
  resourceGroupNotFound: (name: string) => armError("ResourceGroupNotFound", `Resource group '${name}' could not be found.`),
  subscriptionNotFound: (sub: string) => armError("SubscriptionNotFound", `The subscription '${sub}' could not be found.`),
  throttled: (sub: string, actor: string, retryAfterSeconds: string) =>
    armError(
      "SubscriptionRequestsThrottled",
      `Number of 'read' requests for subscription '${sub}' actor '${actor}' exceeded. Please try again after '${retryAfterSeconds}' seconds after the last request.`,
    ),
};

/**
 * Default body for an injected ARM fault with this status. 400/401/403/404/429 reuse the real
 * codes and messages above; 500's InternalServerError text is ARM's; the 502/503/504 codes are
 * ARM's but their messages are generic (Microsoft doesn't document them) — pass `body` to a Fault
 * for an exact capture.
 */
export function armFaultBody(
  status: number,
  ctx: {
    subscriptionId: string;
    resourceGroup: string;
    objectId: string;
    action: string;
    scope: string;
    retryAfter: string;
    correlationId: string;
  },
): ArmErrorBody {
  switch (status) {
    case 400:
      return arm.missingApiVersion();
    case 401:
      return arm.invalidToken();
    case 403:
      return arm.authorizationFailed(ctx.objectId, ctx.objectId, ctx.action, ctx.scope);
    case 404:
      return arm.resourceGroupNotFound(ctx.resourceGroup);
    case 429:
      return arm.throttled(ctx.subscriptionId, ctx.objectId, ctx.retryAfter);
    case 500:
      return armError(
        "InternalServerError",
        `Encountered internal server error. Diagnostic information: timestamp '${new Date()
          .toISOString()
          .replace(/[-:TZ.]/g, "")
          .slice(
            0,
            14,
          )}Z', subscription id '${ctx.subscriptionId}', tracking id '${ctx.correlationId}', request correlation id '${ctx.correlationId}'.`,
      );
    case 502:
      return armError("BadGateway", "The gateway received an invalid response from the upstream server.");
    case 503:
      return armError("ServiceUnavailable", "The service is currently unavailable. Please try again later.");
    case 504:
      return armError(
        "GatewayTimeout",
        "The gateway did not receive a response from 'Microsoft.Resources' within the specified time period.",
      );
    default:
      return armError(httpReason(status).replace(/\s+/g, ""), httpReason(status));
  }
}

export function httpReason(status: number): string {
  // node:http's table; duplicated here so this module stays free of server imports.
  const reasons: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
  };
  return reasons[status] ?? `HTTP ${status}`;
}
